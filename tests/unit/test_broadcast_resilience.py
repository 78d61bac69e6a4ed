"""Broadcasts never stall and a cancel is final: the next step is scheduled before a step's
progress is written (any failure is repeated by SQS's redelivery, harmlessly), a step's
progress never undoes a cancel, and push_sender suppresses the queued jobs of a cancelled
broadcast, reading each broadcast's status once per batch."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from nudge.clock import ManualClock
from nudge.domain.config import EngagementConfig
from nudge.domain.engagement.broadcast_counters import counter_name, outcome_summary
from nudge.models.broadcast import Broadcast, BroadcastRequest, BroadcastStep
from nudge.models.device import Device
from nudge.models.push import PushJob
from nudge.services.messaging.broadcasts import BroadcastService, StepNotReady
from nudge.services.messaging.push import PushService
from tests.fakes.broadcasts import InMemoryBroadcasts
from tests.fakes.delivery_log import FakeFcm, InMemoryDeliveryLog
from tests.fakes.devices import InMemoryDeviceStore
from tests.fakes.memory import InMemoryProfileStore

NOON = datetime(2026, 3, 2, 11, tzinfo=UTC)
USERS = [f"u{i:04d}" for i in range(2500)]  # three steps of 1,000 at 60,000 a minute


class Flaky(InMemoryBroadcasts):
    """The fake, with one failure on purpose in the named operation (as SQS or DynamoDB
    failing after the SDK's retries), and a hook run while a step queues its pushes."""

    def __init__(self, fail: str = "") -> None:
        super().__init__()
        self.fail = fail
        self.while_enqueuing: Any = None

    def _maybe_fail(self, operation: str) -> None:
        if self.fail == operation:
            self.fail = ""
            raise RuntimeError(f"{operation}: InternalFailure")

    def schedule(self, step: BroadcastStep, delay_s: int) -> None:
        if step.step > 0:  # the first step is the API's; this is about the broadcaster's
            self._maybe_fail("schedule")
        super().schedule(step, delay_s)

    def advance(self, broadcast: Broadcast, from_step: int) -> bool:
        if broadcast.status != "cancelled":
            self._maybe_fail("advance")
        return super().advance(broadcast, from_step)

    def enqueue_many(self, bodies: list[str]) -> None:
        if self.while_enqueuing is not None:
            self.while_enqueuing()
        super().enqueue_many(bodies)


def start(fake: Flaky) -> tuple[BroadcastService, str]:
    svc = BroadcastService(fake, fake, fake, fake, ManualClock(NOON))
    request = BroadcastRequest.model_validate(
        {
            "template": {
                "id": "works",
                "category": "internal",
                "text": {"en": {"title": "W", "body": "b"}},
            },
            "target": {"user_ids": USERS},
            "dedupe_key": "works-1",
            "rate_per_minute": 60_000,
        }
    )
    return svc, svc.create(request).broadcast_id


def deliver_until_empty(svc: BroadcastService, fake: Flaky) -> list[str]:
    """SQS: each scheduled step to the broadcaster; one that raised is delivered again later
    (after the steps already waiting)."""
    outcomes: list[str] = []
    for _ in range(20):
        if not fake.scheduled:
            return outcomes
        step, _ = fake.scheduled.pop(0)
        try:
            outcomes.append(svc.run_step(step))
        except Exception as error:
            outcomes.append(type(error).__name__)
            fake.scheduled.append((step, 0))
    raise AssertionError(f"never ended: {outcomes}")


def users_queued(fake: Flaky) -> list[str]:
    return sorted({json.loads(job)["user_id"] for job in fake.jobs})


def test_a_next_step_that_could_not_be_scheduled_is_repeated_and_the_broadcast_finishes() -> None:
    fake = Flaky(fail="schedule")
    svc, broadcast_id = start(fake)
    outcomes = deliver_until_empty(svc, fake)
    assert outcomes == ["RuntimeError", "running", "running", "done"]
    stored = fake.get(broadcast_id)
    assert stored is not None and (stored.status, stored.enqueued, stored.step) == ("done", 2500, 3)
    assert users_queued(fake) == USERS  # step 0's pushes twice: push_sender's claims send once
    assert len(fake.jobs) == 2500 + 1000


def test_a_next_step_ahead_of_its_predecessors_progress_waits_for_it() -> None:
    """The progress write fails after the next step was scheduled: that step is not dropped
    (its predecessor's redelivery may still write the progress), it is retried."""
    fake = Flaky(fail="advance")
    svc, broadcast_id = start(fake)
    outcomes = deliver_until_empty(svc, fake)
    # step 0 fails, step 1 is early, step 0 again (a second step 1), 1, its duplicate, 2
    early = StepNotReady.__name__
    assert outcomes == ["RuntimeError", early, "running", "running", "skipped", "done"]
    stored = fake.get(broadcast_id)
    assert stored is not None and (stored.status, stored.enqueued) == ("done", 2500)
    assert users_queued(fake) == USERS


def test_a_step_redelivered_after_it_succeeded_queues_nothing() -> None:
    fake = Flaky()
    svc, _ = start(fake)
    first, _ = fake.scheduled[0]
    deliver_until_empty(svc, fake)
    queued = len(fake.jobs)
    assert svc.run_step(first) == "skipped"
    assert len(fake.jobs) == queued and fake.scheduled == []


def test_a_cancel_while_a_step_runs_is_not_undone_by_its_progress() -> None:
    fake = Flaky()
    svc, broadcast_id = start(fake)
    fake.while_enqueuing = lambda: svc.cancel(broadcast_id)
    assert deliver_until_empty(svc, fake) == ["skipped", "skipped"]
    stored = fake.get(broadcast_id)
    assert stored is not None and stored.status == "cancelled"
    assert len(fake.jobs) == 1000  # queued before the cancel: push_sender suppresses them


# --- push_sender ---------------------------------------------------------------------------


class CountingStatuses:
    def __init__(self, statuses: dict[str, str]) -> None:
        self.statuses = statuses
        self.reads: list[str] = []

    def status(self, broadcast_id: str) -> str | None:
        self.reads.append(broadcast_id)
        return self.statuses.get(broadcast_id)


def push_job(user: str, source: str) -> str:
    return PushJob.model_validate(
        {
            "job_id": f"{source}-{user}",
            "user_id": user,
            "dedupe_key": f"works-{source}",
            "created_at": NOON.isoformat(),
            "source": source,
            "template": {
                "id": "works",
                "category": "transactional",
                "text": {"en": {"title": "W", "body": "b"}},
            },
        }
    ).model_dump_json()


@pytest.fixture
def pushes() -> tuple[PushService, FakeFcm, CountingStatuses, InMemoryProfileStore]:
    devices, fcm, profiles = InMemoryDeviceStore(), FakeFcm(), InMemoryProfileStore()
    for user in ("ann", "bob", "cy"):
        devices.put_device(
            Device(
                user_id=user,
                device_id="phone",
                token=f"tok-{user}",
                platform="android",
                locale="en-GB",
                timezone="Europe/Amsterdam",
                created_at=0,
                updated_at=int(NOON.timestamp()),
            )
        )
    statuses = CountingStatuses({"b-off": "cancelled", "b-on": "running"})
    log = InMemoryDeliveryLog(counters=profiles)
    config = EngagementConfig()
    service = PushService(devices, log, fcm, config, ManualClock(NOON), broadcasts=statuses)
    return service, fcm, statuses, profiles


def test_a_cancelled_broadcasts_queued_jobs_are_suppressed_and_counted(pushes) -> None:  # type: ignore[no-untyped-def]
    service, fcm, _, profiles = pushes
    service.new_batch()
    results = [service.process(push_job(u, "broadcast:b-off")) for u in ("ann", "bob", "cy")]
    assert fcm.sent == []
    assert {(d.outcome, d.reason) for r in results for d in r.deliveries} == {
        ("suppressed", "cancelled")
    }
    service.new_batch()
    again = service.process(push_job("ann", "broadcast:b-off"), receive_count=2)
    assert [(d.outcome, d.reason) for d in again.deliveries] == [("suppressed", "cancelled")]
    name = counter_name("b-off")
    summary = outcome_summary(profiles.counters([name]).get(name, {}))
    assert (summary["suppressed_by_reason"], summary["delivered"]) == ({"cancelled": 3}, 0)


def test_broadcast_statuses_are_read_once_per_batch_per_broadcast(pushes) -> None:  # type: ignore[no-untyped-def]
    service, fcm, statuses, _ = pushes
    service.new_batch()
    for user in ("ann", "bob", "cy"):
        service.process(push_job(user, "broadcast:b-on"))
        service.process(push_job(user, "broadcast:b-off"))
        service.process(push_job(user, "api"))  # not a broadcast's: never read
    assert sorted(statuses.reads) == ["b-off", "b-on"]
    assert len(fcm.sent) == 6  # b-on's three and the three direct messages
    service.new_batch()  # the next batch reads again: a cancel since is seen
    statuses.statuses["b-on"] = "cancelled"
    result = service.process(push_job("bob", "broadcast:b-on"))  # a duplicate job
    assert statuses.reads[-1] == "b-on" and fcm.sent[6:] == []
    assert [(d.outcome, d.reason) for d in result.deliveries] == [("suppressed", "cancelled")]


def test_an_erasure_while_a_step_runs_repeats_the_step_and_never_writes_them_back() -> None:
    fake = Flaky()
    svc, broadcast_id = start(fake)
    erased = USERS[1500]  # in the second step's slice
    hook_runs: list[int] = []

    def erase_once() -> None:
        if len(hook_runs) == 1:  # while the second step queues its pushes
            fake.erase_user(erased, NOON)
        hook_runs.append(1)

    fake.while_enqueuing = erase_once
    outcomes = deliver_until_empty(svc, fake)
    # step 1 is refused its progress and waits; the step 2 it had scheduled waits for it;
    # step 1 again, then step 2 ends it; the second step 2 finds it done
    assert outcomes == ["running", "StepNotReady", "StepNotReady", "running", "done", "skipped"]
    stored = fake.get(broadcast_id)
    assert stored is not None and stored.status == "done"
    assert stored.target.total() == len(USERS) - 1  # the list kept by the end has no them
    # everyone else was queued (the repeated step's pushes twice: claimed once per device)
    assert users_queued(fake) == USERS
