"""Issue 21 item 8: broadcasts at a time - a fixed instant, or a wall time in each user's
zone sent in waves around the globe - with the audience estimated before the start."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from nudge.clock import ManualClock
from nudge.domain.messaging.broadcast_waves import InvalidSchedule, plan_waves
from nudge.domain.profiles.segments import matches
from nudge.models.broadcast import BroadcastRequest, BroadcastStep, ZoneHints
from nudge.models.device import Device
from nudge.models.profile import Attribute, Profile, Stage
from nudge.services.campaigns.configs import estimate_segment
from nudge.services.messaging.broadcasts import MAX_STEP_DELAY_S, BroadcastService
from tests.conftest import START
from tests.fakes.broadcasts import InMemoryBroadcasts
from tests.fakes.memory import InMemoryProfileStore
from tests.fakes.profile_sample import InMemoryProfileSampler

CHRISTMAS_EVE = "2026-12-24"
NOW = datetime(2026, 12, 20, 12, 0, tzinfo=UTC)


def hints(user: str, preferred: str | None, *devices: tuple[str | None, str | None]) -> ZoneHints:
    """What the devices table holds of a user: preferences' zone, devices' (zone, locale)."""
    return ZoneHints(
        preferred,
        tuple(
            Device(user_id=user, device_id=f"d{n}", token=f"{user}-token-{n}", platform="ios",
                   timezone=zone, locale=locale, created_at=0, updated_at=0)
            for n, (zone, locale) in enumerate(devices)
        ),
    )  # fmt: skip


# each user's zone comes from a different step of the one resolver
ZONES = {
    "tokyo": hints("tokyo", "Asia/Tokyo", ("Europe/London", "en-GB")),
    "amsterdam": hints("amsterdam", None, (None, "en"), ("Europe/Amsterdam", None)),
    "new-york": hints("new-york", None, (None, "en-US")),
    "kolkata": hints("kolkata", None, ("Asia/Kolkata", None)),
}
HOME = {
    "tokyo": "Asia/Tokyo",
    "amsterdam": "Europe/Amsterdam",
    "new-york": "America/New_York",
    "kolkata": "Asia/Kolkata",
}


def template(category: str = "marketing") -> dict[str, Any]:
    return {"id": "xmas", "category": category, "text": {"en": {"title": "Hi", "body": "Ho"}}}


def request(**fields: Any) -> BroadcastRequest:
    body = {
        "template": template(),
        "target": {"all_users": True},
        "dedupe_key": "xmas-1",
        "rate_per_minute": 600,
        **fields,
    }
    return BroadcastRequest.model_validate(body)


def service(
    users: list[str], zones: dict[str, ZoneHints] | None = None, now: datetime = NOW
) -> tuple[BroadcastService, InMemoryBroadcasts, ManualClock]:
    fake = InMemoryBroadcasts(users, zones)
    clock = ManualClock(now)
    return BroadcastService(fake, fake, fake, fake, clock), fake, clock


def run_queue(
    svc: BroadcastService,
    fake: InMemoryBroadcasts,
    clock: ManualClock,
    until: datetime | None = None,
) -> list[tuple[datetime, dict[str, Any]]]:
    """The step queue as SQS runs it: each step when its delay has passed (the clock moves
    there), in order; stops before a step due after `until`. Returns (when queued, job)."""
    pending = [(clock.now() + timedelta(seconds=delay), step) for step, delay in fake.scheduled]
    fake.scheduled.clear()
    queued: list[tuple[datetime, dict[str, Any]]] = []
    for _ in range(10_000):
        if not pending:
            return queued
        pending.sort(key=lambda item: item[0])
        if until is not None and pending[0][0] > until:
            fake.scheduled.extend((step, 0) for _, step in pending)  # left on the queue
            return queued
        arrival, step = pending.pop(0)
        clock.set(max(clock.now(), arrival))
        before = len(fake.jobs)
        svc.run_step(step)
        queued += [(clock.now(), json.loads(job)) for job in fake.jobs[before:]]
        for scheduled, delay in fake.scheduled:
            assert 0 <= delay <= MAX_STEP_DELAY_S  # SQS's own limit
            pending.append((clock.now() + timedelta(seconds=delay), scheduled))
        fake.scheduled.clear()
    raise AssertionError("the steps never ended")


# --- a fixed instant --------------------------------------------------------------------------


def test_a_fixed_start_waits_for_its_time_and_loses_nobody() -> None:
    users = [f"u{i:04d}" for i in range(1500)]
    svc, fake, clock = service(users)
    start = NOW + timedelta(hours=5, seconds=7)
    broadcast = svc.create(request(start_at=start.astimezone(ZoneInfo("Asia/Tokyo")).isoformat()))
    assert broadcast.start_at == start and broadcast.start_at.utcoffset() == timedelta(0)
    assert fake.scheduled == [(BroadcastStep(broadcast_id=broadcast.broadcast_id, step=0), 900)]
    # a step delivered early sends itself again and queues nothing
    step, _ = fake.scheduled.pop(0)
    assert svc.run_step(step) == "waiting" and fake.jobs == []
    assert fake.scheduled == [(step, 900)]
    queued = run_queue(svc, fake, clock)
    assert sorted(job["user_id"] for _, job in queued) == users  # each once
    assert min(when for when, _ in queued) == start  # not a second before
    assert {job["created_at"] for _, job in queued} == {start.isoformat().replace("+00:00", "Z")}
    stored = fake.get(broadcast.broadcast_id)
    assert stored is not None and stored.status == "done" and stored.enqueued == 1500


def test_a_cancel_before_the_start_sends_nothing() -> None:
    svc, fake, clock = service(["a", "b"])
    broadcast = svc.create(request(start_at=(NOW + timedelta(days=2)).isoformat()))
    run_queue(svc, fake, clock, until=NOW + timedelta(hours=1))  # waits, twice an hour...
    assert svc.cancel(broadcast.broadcast_id) is not None
    assert run_queue(svc, fake, clock) == []
    assert clock.now() < NOW + timedelta(days=2)  # the next early step ended it


# --- a local time, in waves -------------------------------------------------------------------


def test_each_user_gets_it_at_nine_their_time() -> None:
    svc, fake, clock = service([*ZONES, "nowhere"], {**ZONES, "nowhere": ZoneHints()})
    broadcast = svc.create(request(local_time="09:00", local_date=CHRISTMAS_EVE))
    assert broadcast.waves == plan_waves(broadcast.local_date, broadcast.local_time)  # type: ignore[arg-type]
    offsets = [wave.utc_offset_minutes for wave in broadcast.waves]
    assert offsets[0] == 14 * 60 and offsets[-1] == -12 * 60
    assert {330, 345, 525, -210} <= set(offsets)  # Kolkata, Nepal, Eucla, Marquesas
    queued = run_queue(svc, fake, clock)
    when = {job["user_id"]: at for at, job in queued}
    assert len(queued) == len(when) == 4  # each user queued once, in exactly one wave
    for user, zone in HOME.items():
        local = when[user].astimezone(ZoneInfo(zone))
        assert (local.date().isoformat(), local.strftime("%H:%M:%S")) == (CHRISTMAS_EVE, "09:00:00")
    assert when["tokyo"] < when["kolkata"] < when["amsterdam"] < when["new-york"]
    stored = fake.get(broadcast.broadcast_id)
    assert stored is not None and stored.status == "done"
    assert stored.wave == len(stored.waves) - 1
    # no zone: withheld (a marketing message), counted, never queued
    assert stored.withheld == {"unknown_timezone": 1} and "nowhere" not in when
    assert stored.scanned == 5  # users looked at once, though every wave walks them


def test_the_profile_is_asked_as_push_sender_asks_it() -> None:
    """No preference, no device zone: the SDK-reported zone on the profile comes before the
    devices' locales (delivery_time.user_zone's order), read in one batch per page."""
    at = int(START.timestamp())
    store = InMemoryProfileStore()
    zone = Attribute(value="Europe/Lisbon", at=at)
    assert store.save(Profile(user_id="rui", stage=Stage.ACTIVE, attributes={"timezone": zone}),
                      None, 1)  # fmt: skip
    svc, fake, clock = service(["rui"], {"rui": hints("rui", None, (None, "pt-BR"))})
    svc.profiles = store
    svc.create(request(local_time="09:00", local_date=CHRISTMAS_EVE))
    ((when, job),) = run_queue(svc, fake, clock)
    assert job["user_id"] == "rui"
    assert when.astimezone(ZoneInfo("Europe/Lisbon")).hour == 9  # not Sao Paulo's 09:00


def test_a_transactional_message_goes_to_users_with_no_zone_in_the_first_wave() -> None:
    svc, fake, clock = service(["tokyo", "nowhere"], {"tokyo": ZONES["tokyo"]})
    broadcast = svc.create(
        request(template=template("transactional"), local_time="09:00", local_date=CHRISTMAS_EVE)
    )
    queued = run_queue(svc, fake, clock)
    when = {job["user_id"]: at for at, job in queued}
    assert when["nowhere"] == broadcast.waves[0].at and len(queued) == 2
    stored = fake.get(broadcast.broadcast_id)
    assert stored is not None and stored.withheld == {}


def test_a_listed_target_is_sent_in_waves_too() -> None:
    svc, fake, clock = service([], ZONES)
    svc.create(
        request(
            target={"user_ids": ["kolkata", "new-york"]},
            local_time="09:00",
            local_date=CHRISTMAS_EVE,
        )
    )
    queued = run_queue(svc, fake, clock)
    assert [(job["user_id"], at.astimezone(ZoneInfo(HOME[job["user_id"]])).hour) for at, job in
            queued] == [("kolkata", 9), ("new-york", 9)]  # fmt: skip


def test_a_cancel_between_waves_stops_the_later_ones() -> None:
    svc, fake, clock = service(list(ZONES), ZONES)
    broadcast = svc.create(request(local_time="09:00", local_date=CHRISTMAS_EVE))
    tokyo_nine = datetime(2026, 12, 24, 0, 0, tzinfo=UTC)
    queued = run_queue(svc, fake, clock, until=tokyo_nine + timedelta(hours=1))
    assert [job["user_id"] for _, job in queued] == ["tokyo"]
    cancelled = svc.cancel(broadcast.broadcast_id)
    assert cancelled is not None and cancelled.status == "cancelled"
    assert run_queue(svc, fake, clock) == []  # Kolkata, Amsterdam, New York: never queued


# --- validation and the estimate --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"start_at": (NOW - timedelta(minutes=1)).isoformat()}, "start_at: the start"),
        ({"start_at": (NOW + timedelta(days=36)).isoformat()}, "start_at: "),
        ({"local_time": "09:00", "local_date": "2026-12-20"}, "local_date: the start"),
        ({"local_time": "09:00", "local_date": "2027-02-01"}, "local_date: "),
        ({"local_time": "09:00", "local_date": "0001-01-01"}, "local_date: "),
        ({"local_time": "23:59", "local_date": "9999-12-31"}, "local_date: "),
    ],
)
def test_a_start_in_the_past_or_too_far_ahead_is_refused(
    fields: dict[str, Any], named: str
) -> None:
    svc, fake, _ = service(["a"])
    with pytest.raises(InvalidSchedule) as caught:
        svc.create(request(**fields))
    assert str(caught.value).startswith(named)
    assert fake.broadcasts == {} and fake.scheduled == []


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"local_time": "9am", "local_date": CHRISTMAS_EVE}, "local_time"),
        ({"local_time": "09:00"}, "local_date"),
        ({"local_date": CHRISTMAS_EVE}, "local_time"),
        ({"start_at": "2026-12-24T09:00:00"}, "start_at"),  # no offset: which 09:00?
        ({"start_at": "2026-12-24T09:00:00Z", "local_time": "09:00"}, "start_at"),
        (
            {
                "start_at": "2026-12-24T09:00:00Z",
                "local_time": "00:00",
                "local_date": CHRISTMAS_EVE,
            },
            "start_at",
        ),
    ],
)
def test_a_malformed_schedule_names_its_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        request(**fields)
    assert field in str(caught.value)


def test_the_audience_is_estimated_at_creation() -> None:
    at = int(START.timestamp())
    store = InMemoryProfileStore()
    profiles = [
        Profile(
            user_id=f"u{i}",
            stage=Stage.ACTIVE,
            attributes={"team": Attribute(value="ops" if i % 4 == 0 else "sales", at=at)},
        )
        for i in range(400)
    ]
    for profile in profiles:
        assert store.save(profile, None, 1)
    svc, fake, _ = service([p.user_id for p in profiles])
    svc.profiles = store
    svc.estimator = lambda segment: estimate_segment(
        segment,
        InMemoryProfileSampler(profiles),
        partial(matches, half_life_days=14.0),
        {},
        int(NOW.timestamp()),
    )
    ops = svc.create(
        request(target={"attributes": {"team": ["ops"]}}, start_at="2026-12-24T09:00:00Z")
    )
    assert ops.estimate == {"estimate": 100, "interval_95": [100, 100], "complete": True}
    everyone = svc.create(request(local_time="09:00", local_date=CHRISTMAS_EVE))
    assert everyone.estimate is not None and everyone.estimate["estimate"] == 400
    listed = svc.create(request(target={"user_ids": ["a", "b", "c"]}))
    assert listed.estimate == {"estimate": 3, "interval_95": [3, 3], "complete": True}
    assert fake.get(ops.broadcast_id) == ops  # stored, for the progress to show
