"""Campaign response by country, region, stage, platform and named segment (issue 22 item 1):
each response counted once in the cell of the send it answers, rates with intervals, small
cells marked."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import datetime, timedelta

import pytest

from nudge.clock import ManualClock, day_key
from nudge.domain.engagement.breakdown import (
    MAX_SEGMENTS,
    ResponseCell,
    cell_of,
    increments,
    rows,
    tally,
)
from nudge.domain.profiles.aggregates import OPT_OUT_EVENT
from nudge.models.campaign import CampaignSet
from nudge.models.events import IncomingEvent
from nudge.models.profile import Attribute, Profile, SendRecord, Stage
from nudge.models.segment import Segment
from tests.conftest import make_event
from tests.fakes.breakdown import InMemoryBreakdownCounters
from tests.unit.test_campaign_pipeline import WELCOME, campaign
from tests.unit.test_engagement_pipeline import Engaged

HELD = """
id: held
category: marketing
trigger: {event: {name: signup_completed}}
goal: {event: purchase, within: 2d}
holdout_pct: 50
"""


def engaged(clock: ManualClock, *campaigns: object) -> Engaged:
    p = Engaged(clock, *(campaigns or (campaign(WELCOME),)))
    segments = {
        "dutch": Segment.model_validate({"attributes": {"country": ["NL"]}}),
        "everyone": Segment(),
    }
    p.catalog.published = CampaignSet(campaigns=p.catalog.published.campaigns, segments=segments)
    return p


def cells(p: Engaged, *campaign_ids: str) -> dict[tuple[str, str], Counter[str]]:
    today = p.clock.now().timestamp()
    start, end = day_key(int(today) - 3 * 86_400), day_key(int(today))
    return InMemoryBreakdownCounters(p.profiles).cells(list(campaign_ids), start, end)


def signed_up(p: Engaged, user: str, country: str, platform: str = "ios") -> str:
    p.consent(user)
    p.device(user)
    p.act(user, "user_attributes", country=country, platform=platform, city="Haarlem")
    p.act(user, "signup_completed")
    jobs = p.jobs(user)
    return jobs[0].job_id if jobs else ""


def test_a_send_and_its_responses_land_in_the_cell_of_the_send(clock: ManualClock) -> None:
    p = engaged(clock)
    job_id = signed_up(p, "ann", "NL")
    p.deliver_all()
    p.act("ann", "push_opened", message_id=job_id)
    p.act("ann", "purchase")
    # then ann moves: everything after still answers the send made in the Netherlands
    p.act("ann", "user_attributes", country="BE", platform="android")
    clock.advance(timedelta(minutes=5))
    p.act("ann", OPT_OUT_EVENT, kind="category", category="marketing")
    found = cells(p, "welcome")
    want = {"sent": 1, "opened": 1, "converted": 1, "opt_out": 1}
    assert found[("country", "NL")] == want
    assert found[("city", "Haarlem")] == want
    assert found[("platform", "ios")] == want
    assert found[("segment", "dutch")] == want
    assert found[("segment", "everyone")] == want
    assert ("country", "BE") not in found and ("platform", "android") not in found


def test_a_holdout_would_be_send_and_its_conversion_have_their_cell(clock: ManualClock) -> None:
    p = engaged(clock, campaign(HELD))
    for i in range(12):
        signed_up(p, f"u{i}", "DE")
        p.act(f"u{i}", "purchase")
    found = cells(p, "held")[("country", "DE")]
    assert found["sent"] + found["holdout"] == 12 and found["holdout"] > 0
    assert found["converted"] == found["sent"]
    assert found["holdout_converted"] == found["holdout"]


def _responses(job_id: str, at: datetime) -> list[IncomingEvent]:
    return [
        make_event("push_opened", at, message_id=job_id),
        make_event("purchase", at),
        make_event("user_attributes", at, country="FR"),
        make_event(OPT_OUT_EVENT, at, kind="permission"),
    ]


@pytest.mark.parametrize("order", list(itertools.permutations(range(4)))[::5])
def test_responses_count_once_whatever_the_order_and_duplicates(
    clock: ManualClock, order: tuple[int, ...]
) -> None:
    p = engaged(clock)
    job_id = signed_up(p, "ann", "NL")
    p.deliver_all(times=2)
    clock.advance(timedelta(minutes=1))
    events = _responses(job_id, clock.now())
    for i in order:
        p.send("ann", events[i])
        p.send("ann", events[i], events[order[0]])  # redelivered, batched with another
    p.send("ann", *events)  # the whole batch again
    want = {"sent": 1, "opened": 1, "converted": 1, "opt_out": 1}
    found = cells(p, "welcome")
    assert found[("country", "NL")] == want
    assert found[("stage", "new")] == want
    assert ("country", "FR") not in found


def test_the_cell_comes_from_attributes_then_locale_then_the_last_fence() -> None:
    profile = Profile(user_id="ann", stage=Stage.ACTIVE)
    profile.attributes = {
        "locale": Attribute(value="pt_BR", at=1),
        "platform": Attribute(value="Android", at=1),
        "region": Attribute(value="São Paulo | SP", at=1),
    }
    assert ResponseCell.parse(cell_of(profile, lambda _: False, [])) == ResponseCell(
        "BR", "São Paulo SP", "", "active", "android"
    )
    profile.attributes = {"country": Attribute(value="nl", at=1)}
    profile.geo = {
        "fences": {
            "stations/utrecht": {"inside": False, "last_at": "2026-03-02T09:00:00Z"},
            "stations/amsterdam": {"inside": True, "last_at": "2026-03-01T09:00:00Z"},
        }
    }
    cell = ResponseCell.parse(cell_of(profile, lambda _: True, [f"s{i}" for i in range(20)]))
    assert (cell.country, cell.region) == ("NL", "stations/amsterdam")
    assert len(cell.segments) == MAX_SEGMENTS  # a bounded number kept with the send


def test_profiles_stored_before_cells_still_load() -> None:
    send = SendRecord.model_validate({"at": 1, "campaign": "welcome", "category": "marketing"})
    assert send.cell == ""


def _stored(country: str, sent: int, opened: int) -> tuple[str, dict[str, int]]:
    cell = ResponseCell(country, stage="active", segments=("dutch",)).key()
    fields = Counter({k: v * sent for k, v in increments(cell, "sent").items()})
    fields.update({k: v * opened for k, v in increments(cell, "opened").items()})
    return ResponseCell.parse(cell).base, dict(fields)


def test_rows_rank_by_the_interval_and_mark_small_cells() -> None:
    stored = [_stored("NL", 400, 120), _stored("BE", 400, 40), _stored("LU", 12, 11)]
    ranked = rows(tally(stored), "country", min_group=30, rank_by="open")
    assert [r.value for r in ranked] == ["NL", "BE", "LU"]  # LU's 92 % is too little data
    nl, be, lu = ranked
    assert nl.enough and be.enough and not lu.enough
    assert nl.open.count == 120 and nl.open.n == 400
    low, high = nl.open.interval_pct or (0.0, 0.0)
    assert low < 30.0 < high and high - low < 10  # Wilson, 95 %
    assert (
        rows(tally(stored), "segment", 30)[0].value,
        rows(tally(stored), "segment", 30)[0].sent,
    ) == (
        "dutch",
        812,
    )
    # opt-outs rank lowest first
    assert rows(tally(stored), "country", 30, rank_by="opt_out")[-1].value == "LU"


def test_unknown_fields_are_left_out_and_unknown_values_named() -> None:
    found = tally([("||||", {"s": 2, "zz": 5, "o.x": 0})])
    assert found[("country", "unknown")] == {"sent": 2}
    assert all(metric == "sent" for c in found.values() for metric in c)
