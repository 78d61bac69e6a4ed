"""Broadcast fan-out: paced steps, progress, duplicate steps, cancellation."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from nudge.clock import ManualClock
from nudge.models.broadcast import BroadcastRequest, BroadcastStep
from nudge.models.campaign import CampaignSet
from nudge.models.segment import Segment
from nudge.services.messaging.broadcasts import (
    BroadcastService,
    UnknownReference,
    fan_out_plan,
    step_plan,
)
from tests.fakes.broadcasts import InMemoryBroadcasts
from tests.fakes.memory import InMemoryCampaignCatalog, InMemoryProfileStore

TEMPLATE = {
    "id": "lunch",
    "category": "internal",
    "text": {"en": {"title": "Lunch", "body": "Noon"}},
}


def service(users: list[str] | None = None) -> tuple[BroadcastService, InMemoryBroadcasts]:
    fake = InMemoryBroadcasts(users)
    from tests.conftest import START

    return BroadcastService(fake, fake, fake, fake, ManualClock(START)), fake


def request(**target: object) -> BroadcastRequest:
    return BroadcastRequest.model_validate(
        {"template": TEMPLATE, "target": target, "dedupe_key": "lunch-1", "rate_per_minute": 600}
    )


def run_all(svc: BroadcastService, fake: InMemoryBroadcasts) -> list[str]:
    outcomes = []
    while fake.scheduled:
        step, _ = fake.scheduled.pop(0)
        outcomes.append(svc.run_step(step))
    return outcomes


@pytest.mark.parametrize(
    ("rate", "size", "delay"),
    [(600_000, 1000, 1), (500_000, 1000, 1), (6_000, 1000, 10), (600, 600, 60), (60, 60, 60)],
)
def test_step_plan_keeps_within_the_rate(rate: int, size: int, delay: int) -> None:
    assert step_plan(rate) == (size, delay)
    assert size * 60 / delay <= rate


def test_a_million_users_within_the_fcm_quota() -> None:
    plan = fan_out_plan(1_000_000, 500_000)
    assert plan["steps"] == 1000
    assert plan["minutes"] <= 20  # never faster than 500k/min


def test_explicit_users_in_paced_steps_with_progress() -> None:
    svc, fake = service()
    users = [f"u{i:04d}" for i in range(1500)]
    broadcast = svc.create(request(user_ids=users))
    assert run_all(svc, fake) == ["running", "running", "done"]
    stored = fake.get(broadcast.broadcast_id)
    assert stored is not None and stored.enqueued == 1500 and stored.status == "done"
    jobs = [json.loads(j) for j in fake.jobs]
    assert sorted(j["user_id"] for j in jobs) == users
    assert {j["dedupe_key"] for j in jobs} == {"lunch-1"}


def test_a_duplicated_step_is_skipped() -> None:
    svc, fake = service()
    svc.create(request(user_ids=["a", "b"]))
    step, _ = fake.scheduled.pop(0)
    assert svc.run_step(step) == "done"
    assert svc.run_step(step) == "skipped"
    assert len(fake.jobs) == 2


def test_all_users_with_devices_and_cancel() -> None:
    svc, fake = service([f"u{i}" for i in range(2500)])
    broadcast = svc.create(request(all_users=True))
    step, _ = fake.scheduled.pop(0)
    svc.run_step(step)
    cancelled = svc.cancel(broadcast.broadcast_id)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert run_all(svc, fake) == ["skipped"]
    assert len(fake.jobs) == 600


@pytest.mark.parametrize(
    "body",
    [
        {"template": TEMPLATE, "target": {}, "dedupe_key": "x"},
        {"template": TEMPLATE, "target": {"user_ids": ["a"], "all_users": True}, "dedupe_key": "x"},
        {
            "template": TEMPLATE,
            "target": {"all_users": True},
            "dedupe_key": "x",
            "rate_per_minute": 700_000,
        },
        {"target": {"all_users": True}, "dedupe_key": "x"},
    ],
)
def test_bad_requests_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        BroadcastRequest.model_validate(body)


def test_unknown_step_is_skipped() -> None:
    svc, _ = service()
    assert svc.run_step(BroadcastStep(broadcast_id="nope", step=0)) == "skipped"


def _profiles(teams: dict[str, str]) -> InMemoryProfileStore:
    from nudge.models.profile import Attribute, Profile, Stage
    from tests.conftest import START

    store = InMemoryProfileStore()
    at = int(START.timestamp())
    for user, team in teams.items():
        profile = Profile(
            user_id=user,
            first_seen=at,
            last_seen=at,
            stage=Stage.ACTIVE if team != "sales" else Stage.AT_RISK,
            attributes={"team": Attribute(value=team, at=at)},
        )
        assert store.save(profile, None, 1)
    return store


def test_attribute_segment_and_named_segment_targets() -> None:
    teams = {f"u{i:03d}": ("payments" if i % 3 == 0 else "sales") for i in range(300)}
    payments = sorted(u for u, t in teams.items() if t == "payments")
    named = CampaignSet(segments={"at-risk": Segment.model_validate({"lifecycle": ["at_risk"]})})
    for target, expected in [
        ({"attributes": {"team": ["payments"]}}, payments),
        (
            {"segment": {"not": {"attributes": {"team": ["payments"]}}}},
            sorted(set(teams) - set(payments)),
        ),
        ({"segment_name": "at-risk"}, sorted(set(teams) - set(payments))),
    ]:
        svc, fake = service([*sorted(teams), "no-profile"])
        svc.profiles = _profiles(teams)
        svc.catalog = InMemoryCampaignCatalog(named)
        broadcast = svc.create(request(**target))
        run_all(svc, fake)
        assert sorted(json.loads(job)["user_id"] for job in fake.jobs) == expected
        done = fake.get(broadcast.broadcast_id)
        assert done is not None and (done.enqueued, done.scanned) == (len(expected), 301)


def test_unknown_named_segment_is_refused() -> None:
    svc, _ = service(["u1"])
    svc.catalog = InMemoryCampaignCatalog(CampaignSet())
    with pytest.raises(UnknownReference, match="segment_name"):
        svc.create(request(segment_name="nobody"))


def test_a_target_must_be_exactly_one_kind() -> None:
    with pytest.raises(ValidationError, match="exactly one of"):
        request(all_users=True, attributes={"team": ["x"]})


def test_a_broadcasts_outcome_counters_name_it_by_its_jobs_source() -> None:
    from nudge.domain.engagement.broadcast_counters import broadcast_of, outcome_delta

    assert broadcast_of("broadcast:b42") == "b42"
    assert [broadcast_of(s) for s in (None, "api", "campaign:winback", "broadcast:")] == [None] * 4
    assert outcome_delta("broadcast:b42", "delivered") == {"broadcast#b42": {"delivered": 1}}
    assert outcome_delta("broadcast:b42", "failed", "x.y") == {"broadcast#b42": {"failed.x_y": 1}}
    assert outcome_delta("broadcast:b42", "suppressed", None) == {
        "broadcast#b42": {"suppressed.unknown": 1}
    }
    assert outcome_delta("admin", "delivered") is None


def test_a_broadcast_with_nothing_delivered_yet_has_no_open_rate() -> None:
    from nudge.domain.engagement.broadcast_counters import outcome_summary

    assert outcome_summary({}) == {
        "delivered": 0, "failed": 0, "failed_by_code": {}, "suppressed": 0,
        "suppressed_by_reason": {}, "opened": 0, "open_rate": None, "opt_outs": 0,
        "opt_outs_by_kind": {},
    }  # fmt: skip
    counted = outcome_summary({"delivered": 8, "opened": 3, "failed.UNAVAILABLE": 0})
    assert (counted["open_rate"], counted["failed_by_code"]) == (0.375, {})
