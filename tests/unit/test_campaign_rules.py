"""The campaign format (good and bad files) and every rule of the decision sequence."""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from nudge.configfiles import ConfigError, load_config
from nudge.domain import campaigns as engine
from nudge.domain.config import CategoryCaps
from nudge.domain.profiles.segments import explain, version_key
from nudge.models.campaign import Campaign
from nudge.models.profile import (
    Attribute,
    CampaignMark,
    InterestScore,
    LastLocation,
    NameCounts,
    Profile,
    SendRecord,
    Stage,
)
from nudge.models.segment import NamedSegments, Segment

NOW = 1_772_442_000  # 2026-03-02 09:00 UTC, a Monday
DAY = 86_400
EXAMPLES = Path(__file__).parents[2] / "events" / "campaigns"


def make(**fields: Any) -> Campaign:
    data: dict[str, Any] = {
        "id": "promo",
        "name": "Promo",
        "status": "active",
        "trigger": {"event": {"name": "browse"}},
        "variants": [{"id": "a", "title": "T", "body": "B"}],
    }
    data.update(fields)
    return Campaign.model_validate(data)


def ctx(
    consent: bool = True, zone: str = "UTC", quiet: tuple[time, time] | None = None, **kw: Any
) -> engine.Context:
    return engine.Context(
        now=kw.get("now", NOW),
        zone=zone,
        named=kw.get("named", {}),
        caps=kw.get("caps", {"marketing": CategoryCaps(per_day=3, per_week=8)}),
        consent=lambda: {"marketing": consent, "transactional": True},
        interest_half_life_days=kw.get("half_life", 14.0),
        quiet_hours=lambda: quiet,
    )


def candidate(campaign: Campaign, occurrence: str = "e:1", at: int = NOW) -> engine.Candidate:
    return engine.Candidate(campaign, occurrence, at)


def user(**fields: Any) -> Profile:
    base: dict[str, Any] = {
        "user_id": "ann",
        "first_seen": NOW - 20 * DAY,
        "last_seen": NOW,
        "stage": Stage.ACTIVE,
    }
    base.update(fields)
    return Profile.model_validate(base)


# --- format ----------------------------------------------------------------------------------


def test_shipped_example_campaigns_are_valid() -> None:
    files = sorted(EXAMPLES.glob("*.yaml"))
    assert len(files) >= 4
    segments = load_config((EXAMPLES / "segments.yml").read_text(), NamedSegments, "segments.yml")
    for path in files:
        loaded = load_config(path.read_text(), Campaign, str(path))
        assert engine.check_campaign(loaded, segments) == [], path


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (
            "trigger: {event: {name: x}}\nholdout_pct: 80\n",
            2,
            "holdout_pct",
            "less than or equal to 50",
        ),
        (
            "trigger: {schedule: {cron: '61 9 * * MON'}}\n",
            1,
            "trigger.schedule.cron",
            "not a valid 5-field cron",
        ),
        (
            "trigger: {event: {name: x}}\ndelivery:\n  cooldown: 2 weeks\n",
            3,
            "delivery.cooldown",
            "",
        ),
        (
            "trigger: {event: {name: x}}\ndelivery:\n"
            "  send_window: {start: '09:00', end: '09:00'}\n",
            3,
            "delivery.send_window",
            "window is empty",
        ),
        (
            "trigger: {event: {name: x}}\ncolour: red\n",
            2,
            "colour",
            "Extra inputs are not permitted",
        ),
        ("trigger: {event: {name: x, unless: [y]}}\n", 1, "trigger.event", "needs a 'delay'"),
        (
            "trigger: {event: {name: x}, inactivity: {days: 3}}\n",
            1,
            "trigger",
            "exactly one trigger kind",
        ),
        ("trigger: {inactivity: {days: 3}}\n", 1, "", "every user on a timer"),
        (
            "trigger: {event: {name: x}}\naudience:\n"
            "  behavior: {event: y, count_gte: 5, count_lte: 2}\n",
            3,
            "audience.behavior",
            "nobody can match",
        ),
    ],
)
def test_bad_files_name_the_line_and_field(text: str, line: int, field: str, message: str) -> None:
    head = "id: promo\nname: P\nvariants: [{id: a, title: T, body: B}]\n"
    with pytest.raises(ConfigError) as caught:
        load_config(head + text, Campaign, "promo.yaml")
    problems = caught.value.problems
    assert any(p.line == line + 3 or (not field and p.line) for p in problems), problems
    assert any(p.field.startswith(field) and message in p.message for p in problems), problems


def test_semantic_checks_catch_unknown_variables_segments_events_and_syntax() -> None:
    campaign = make(
        audience={"segment": "big-spenders", "behavior": {"event": "purchse", "count_gte": 1}},
        variants=[{"id": "a", "title": "{{ usr.name }}", "body": "{% if %}"}],
    )
    problems = engine.check_campaign(campaign, None, frozenset({"browse", "purchase"}))
    text = "\n".join(problems)
    assert "unknown segment 'big-spenders'" in text
    assert "'purchse' is not in the app's event catalog" in text
    assert "unknown template variable 'usr'" in text
    assert "template syntax" in text


def test_named_segments_must_not_loop() -> None:
    with pytest.raises(ValueError, match="refers to itself"):
        NamedSegments.model_validate({"segments": {"a": {"segment": "b"}, "b": {"segment": "a"}}})


def test_published_json_schema_is_current() -> None:
    import json

    schema = json.loads(
        (Path(__file__).parents[2] / "schemas" / "campaign.schema.json").read_text()
    )
    assert schema == Campaign.model_json_schema(by_alias=True), "run: make schemas"


# --- segments ------------------------------------------------------------------------------


def test_segment_conditions_with_reasons() -> None:
    profile = user(
        counts={"purchase": NameCounts(total=3, last_at=NOW - DAY, days={NOW // DAY - 1: 3})},
        interests={"jazz": InterestScore(score=3.0, as_of=NOW)},
        attributes={
            "country": Attribute(value="NL", at=NOW),
            "app_version": Attribute(value="2.10.1", at=NOW),
        },
        location=LastLocation(lat=52.379, lng=4.900, at=NOW - DAY),
    )
    ok = Segment.model_validate(
        {
            "lifecycle": ["active", "loyal"],
            "behavior": {"event": "purchase", "count_gte": 2, "within_days": 7},
            "interests": {"any": ["jazz", "rock"]},
            "attributes": {"country": ["NL", "BE"], "app_version": {"version_gte": "2.9"}},
            "location": {"near": {"lat": 52.37, "lng": 4.89, "radius_km": 5}},
            "not": {"recency": {"event": "uninstall_survey", "within_days": 30}},
        }
    )
    assert explain(ok, profile, NOW, {}, half_life_days=14) is None
    cases = {
        "lifecycle is active, not loyal": {"lifecycle": ["loyal"]},
        "purchase 3x in 7d, needs at least 5": {
            "behavior": {"event": "purchase", "count_gte": 5, "within_days": 7}
        },
        "none of the interests rock among the top 3": {"interests": {"any": ["rock"]}},
        "attribute country is 'NL'": {"attributes": {"country": ["DE"]}},
        "attribute app_version is '2.10.1'": {"attributes": {"app_version": {"version_lt": "2.4"}}},
        "last seen 432 km away (radius 10 km)": {
            "location": {"near": {"lat": 48.85, "lng": 2.35, "radius_km": 10}}
        },
        "none of the 'any' conditions hold": {"any": [{"lifecycle": ["dormant"]}]},
        "matches the 'not' condition": {"not": {"attributes": {"country": ["NL"]}}},
    }
    for reason, rule in cases.items():
        assert explain(Segment.model_validate(rule), profile, NOW, {}, half_life_days=14) == reason


def test_did_x_but_not_y() -> None:
    rule = Segment.model_validate(
        {"did_not": {"did": "cart_updated", "not": "checkout_completed", "within_days": 3}}
    )
    carted = {"cart_updated": NameCounts(total=1, last_at=NOW - 3600, days={NOW // DAY: 1})}
    assert explain(rule, user(counts=carted), NOW, {}, half_life_days=14) is None
    bought = {
        **carted,
        "checkout_completed": NameCounts(total=1, last_at=NOW - 60, days={NOW // DAY: 1}),
    }
    assert "happened after" in (
        explain(rule, user(counts=bought), NOW, {}, half_life_days=14) or ""
    )


def test_app_versions_compare_by_parts() -> None:
    assert version_key("2.10.1") > version_key("2.9") > version_key("2.3.99")


# --- the decision sequence -----------------------------------------------------------------


def test_each_rule_blocks_with_its_reason() -> None:
    base = make(delivery={"cooldown": "6h", "max_per_user": 2})

    def decide(c: Campaign, p: Profile, at: int = NOW, **kw: Any) -> engine.Decision:
        return engine.decide(candidate(c, at=at), p, ctx(**kw))

    assert decide(make(status="paused"), user()).reason == "inactive"
    assert decide(base, user(), at=NOW - 2 * DAY).reason == "expired"
    decided = user()
    decided.messaging.occurrences["promo|e:1"] = NOW
    assert decide(base, decided).reason == "duplicate"
    assert decide(make(audience={"lifecycle": ["dormant"]}), user()).reason == "audience"
    assert decide(base, user(), consent=False).reason == "consent"
    capped = user()
    capped.messaging.campaigns["promo"] = CampaignMark(sends=2, last_at=NOW - 10 * DAY)
    assert decide(base, capped).reason == "max_per_user"
    cooling = user()
    cooling.messaging.campaigns["promo"] = CampaignMark(sends=1, last_at=NOW - 3600)
    verdict = decide(base, cooling)
    assert (verdict.reason, verdict.rules[-1].detail) == (
        "cooldown",
        "last sent 60 min ago; 300 min left",
    )
    busy = user()
    busy.messaging.sends = [
        SendRecord(at=NOW - i * 3600, campaign=f"other{i}", category="marketing")
        for i in range(1, 4)
    ]
    assert decide(base, busy).reason == "global_cap"
    assert decide(make(category="transactional"), busy).action == "send"  # exempt from caps
    window = make(delivery={"send_window": {"start": "10:00", "end": "18:00"}})
    waiting = decide(window, user())
    assert (waiting.action, waiting.reason, waiting.wait_until) == (
        "wait",
        "send_window",
        NOW + 3600,
    )
    assert decide(base, user()).outcome == "send"


def test_quiet_hours_are_read_in_the_users_zone() -> None:
    night = (time(22, 0), time(8, 0))
    # 09:00 UTC is 18:00 in Tokyo (fine) and 04:00 in New York (quiet: deferred, not dropped)
    tokyo = engine.decide(candidate(make()), user(), ctx(zone="Asia/Tokyo", quiet=night))
    york = engine.decide(candidate(make()), user(), ctx(zone="America/New_York", quiet=night))
    assert tokyo.rules[-1].detail == "" and tokyo.action == "send"
    assert york.action == "send" and "deferred by push_sender" in york.rules[-1].detail


def test_every_rule_passed_is_listed_in_order() -> None:
    decision = engine.decide(candidate(make()), user(), ctx())
    assert [r.name for r in decision.rules] == [
        "active",
        "audience",
        "consent",
        "max_per_user",
        "cooldown",
        "global_cap",
        "send_window",
        "holdout",  # last: only users who would have been sent are held out
    ]


@given(st.text(min_size=1, max_size=20), st.integers(0, 50))
def test_holdout_and_variant_are_deterministic(user_id: str, pct: int) -> None:
    first = make(
        holdout_pct=pct,
        variants=[
            {"id": "a", "title": "T", "body": "B", "weight": 3},
            {"id": "b", "title": "T", "body": "B", "weight": 1},
        ],
    )
    # a new version (other texts, same id) keeps every user where they were
    second = first.model_copy(update={"name": "Promo v2"})
    assert engine.in_holdout(first, user_id) == engine.in_holdout(second, user_id)
    assert engine.pick_variant(first, user_id) == engine.pick_variant(second, user_id)


def test_holdout_and_weights_hold_over_many_users() -> None:
    campaign = make(
        holdout_pct=10,
        variants=[
            {"id": "a", "title": "T", "body": "B", "weight": 3},
            {"id": "b", "title": "T", "body": "B", "weight": 1},
        ],
    )
    users = [f"user-{i}" for i in range(20_000)]
    held = sum(engine.in_holdout(campaign, u) for u in users)
    share_a = sum(engine.pick_variant(campaign, u) == "a" for u in users) / len(users)
    assert 1_800 < held < 2_200
    assert 0.73 < share_a < 0.77


def test_localized_variant_falls_back_to_the_default_text() -> None:
    campaign = make(localization={"nl": {"variants": {"a": {"title": "Hallo"}}}})
    template = engine.campaign_template(campaign, "a")
    assert template.text["nl"].title == "Hallo" and template.text["nl"].body == "B"
    assert template.id == "promo.a" and template.respect_quiet_hours is True


def test_campaign_examples_parse_as_yaml() -> None:
    for path in EXAMPLES.glob("*.y*ml"):
        assert isinstance(yaml.safe_load(path.read_text()), dict)


def test_preview_explains_the_verdict_and_renders_the_users_locale() -> None:
    from nudge.domain.config import ConsentDefaults
    from nudge.domain.messaging.consent import effective
    from nudge.models.device import Device, Preferences

    campaign = make(
        variants=[{"id": "a", "title": "Hi {{ user.first_name }}", "body": "B"}],
        localization={"nl": {"variants": {"a": {"title": "Hoi {{ user.first_name }}"}}}},
    )
    profile = user(attributes={"first_name": Attribute(value="Anna", at=NOW)})
    prefs = effective(Preferences(user_id="ann", categories={"marketing": True}), ConsentDefaults())
    device = Device.model_validate(
        {
            "user_id": "ann",
            "device_id": "phone-1",
            "token": "t" * 40,
            "platform": "ios",
            "locale": "nl-NL",
            "timezone": "Europe/Amsterdam",
            "push_enabled": True,
            "created_at": NOW,
            "updated_at": NOW,
        }
    )
    shown = engine.preview(
        campaign, profile, prefs, [device], NOW, {}, {}, "UTC", interest_half_life_days=14
    )
    assert shown["verdict"] == "send"
    assert shown["message"]["title"] == "Hoi Anna"
    assert shown["zone"] == "Europe/Amsterdam (device)"
    blocked = engine.preview(
        campaign,
        profile,
        effective(None, ConsentDefaults()),
        [device],
        NOW,
        {},
        {},
        "UTC",
        interest_half_life_days=14,
    )
    assert blocked["verdict"] == "suppress:consent"
    assert blocked["rules"][-1] == {
        "rule": "consent",
        "passed": False,
        "detail": "no consent for marketing",
    }
