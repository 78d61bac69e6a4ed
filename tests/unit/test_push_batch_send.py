"""An SQS batch of push jobs waits for FCM once: every job is gated and claimed, then one send
carries all their messages, then each job records its outcomes (issue 23). The batch's users'
devices and preferences are read together. Producers queue ten jobs a request."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from nudge.adapters.sqs import SqsPushQueue
from nudge.clock import ManualClock
from nudge.domain.config import EngagementConfig
from nudge.models.device import Device, Preferences
from nudge.models.push import PushJob
from nudge.services.messaging.push import JobResult, PushService
from tests.fakes.delivery_log import FakeFcm, InMemoryDeliveryLog
from tests.fakes.devices import InMemoryDeviceStore
from tests.fakes.memory import InMemoryProfileStore

NOON = datetime(2026, 3, 2, 11, tzinfo=UTC)
USERS = [f"u{i}" for i in range(7)]


def job(user: str, number: int = 0) -> str:
    return PushJob.model_validate(
        {
            "job_id": f"job-{user}-{number}",
            "user_id": user,
            "dedupe_key": f"key-{user}-{number}",
            "created_at": NOON.isoformat(),
            "template": {
                "id": "shipped",
                "category": "transactional",
                "text": {"en": {"title": "Shipped", "body": "On its way"}},
            },
        }
    ).model_dump_json()


class CountingFcm(FakeFcm):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []  # messages per non-empty send call

    def send(self, messages: Any) -> list[Any]:
        if messages:
            self.calls.append(len(messages))
        return super().send(messages)


class CountingDevices(InMemoryDeviceStore):
    def __init__(self) -> None:
        super().__init__()
        self.single_reads = 0
        self.together: list[list[str]] = []

    def devices(self, user_id: str, now: int | None = None) -> list[Device]:
        self.single_reads += 1
        return super().devices(user_id, now)

    def partitions(
        self, user_ids: Any, now: int | None = None
    ) -> dict[str, tuple[list[Device], Preferences | None]]:
        self.together.append(list(user_ids))
        return {
            u: (InMemoryDeviceStore.devices(self, u, now), self.preferences(u)) for u in user_ids
        }


class RefusingClaims(InMemoryDeliveryLog):
    """A claim write of one dedupe key is refused (throttled)."""

    refused = "key-u3-0"

    def claim_job(self, body: Any, *args: Any, **kwargs: Any) -> Any:
        if body.dedupe_key == self.refused:
            raise ConnectionError("throttled")
        return super().claim_job(body, *args, **kwargs)


def service(log: type[InMemoryDeliveryLog] = InMemoryDeliveryLog) -> PushService:
    devices = CountingDevices()
    for user in USERS:
        for device_id in ("phone", "tablet"):
            devices.put_device(
                Device(
                    user_id=user,
                    device_id=device_id,
                    token=f"tok-{user}-{device_id}",
                    platform="android",
                    locale="en-GB",
                    created_at=0,
                    updated_at=int(NOON.timestamp()),
                )
            )
    store = log(counters=InMemoryProfileStore())
    return PushService(devices, store, CountingFcm(), EngagementConfig(), ManualClock(NOON))


def sent_tokens(push: PushService) -> list[str]:
    return sorted(m["token"] for m in push.fcm.sent)


def test_a_batch_of_jobs_waits_for_fcm_once_and_records_each_job() -> None:
    push = service()
    push.new_batch()
    results = push.process_batch([(job(user), 1) for user in USERS])
    push.end_batch()
    assert push.fcm.calls == [2 * len(USERS)]
    assert all(isinstance(r, JobResult) and r.done for r in results)
    for user, result in zip(USERS, results, strict=True):
        assert isinstance(result, JobResult)
        assert {(d.user_id, d.device_id, d.outcome) for d in result.deliveries} == {
            (user, "phone", "sent"),
            (user, "tablet", "sent"),
        }
    # a redelivery of the whole batch sends nothing again (the claims are in a committed batch)
    push.new_batch()
    again = push.process_batch([(job(user), 2) for user in USERS])
    push.end_batch()
    assert push.fcm.calls == [2 * len(USERS)]
    assert all(isinstance(r, JobResult) for r in again)
    assert len(sent_tokens(push)) == 2 * len(USERS)


def test_a_refused_claim_fails_its_job_alone() -> None:
    push = service(RefusingClaims)
    push.new_batch()
    results = push.process_batch([(job(user), 1) for user in USERS] + [("{not json", 1)])
    push.end_batch()
    failed = [i for i, r in enumerate(results) if isinstance(r, Exception)]
    assert failed == [3, len(USERS)]  # the refused claim and the poison body, nothing else
    assert push.fcm.calls == [2 * (len(USERS) - 1)]
    assert not any(t.startswith("tok-u3-") for t in sent_tokens(push))


def test_an_fcm_failure_fails_every_claimed_job_and_none_is_sent_again() -> None:
    push = service()

    def down(messages: Any) -> list[Any]:
        if messages:
            raise TimeoutError("FCM answer lost")
        return []

    working, push.fcm.send = push.fcm.send, down
    push.new_batch()
    results = push.process_batch([(job(user), 1) for user in USERS[:3]])
    push.end_batch()  # every outcome was recorded `unknown`: the batch may commit
    assert all(isinstance(r, TimeoutError) for r in results)
    push.fcm.send = working
    push.new_batch()
    again = push.process_batch([(job(user), 2) for user in USERS[:3]])
    push.end_batch()
    assert push.fcm.calls == []
    assert all(isinstance(r, JobResult) for r in again)


def test_the_batch_reads_its_users_devices_together() -> None:
    push = service()
    push.new_batch()
    push.process_batch([(job(user, n), 1) for user in USERS for n in range(2)])
    push.end_batch()
    devices = push.devices
    assert isinstance(devices, CountingDevices)
    assert [sorted(call) for call in devices.together] == [sorted(USERS)]
    assert devices.single_reads == 0  # no job reads its own


class RecordingSqs:
    def __init__(self) -> None:
        self.requests: list[list[dict[str, str]]] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        self.requests.append(Entries)
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}

    def send_message(self, **_: Any) -> dict[str, Any]:
        raise AssertionError("one SendMessage per job")


def test_a_producer_queues_ten_jobs_a_request() -> None:
    sqs = RecordingSqs()
    bodies = [job(f"u{i}") for i in range(23)]
    SqsPushQueue("https://sqs/pushes", sqs).enqueue_many(bodies)
    assert [len(r) for r in sqs.requests] == [10, 10, 3]
    assert [e["MessageBody"] for r in sqs.requests for e in r] == bodies
