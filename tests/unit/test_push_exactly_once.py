"""At most one send per device once FCM may have accepted a message, whatever fails after it
(issue 18): the outcome or its count written late, a crash, a lost FCM answer. Counters count
once. Over the fakes, with the same conditions as the DynamoDB delivery log."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nudge.adapters.delivery_log import CLAIM_LEASE_S
from nudge.clock import ManualClock
from nudge.domain.config import EngagementConfig
from nudge.models.device import Device, Preferences
from nudge.models.push import PushJob
from nudge.services.messaging.push import PushService
from tests.fakes.delivery_log import FakeFcm, InMemoryDeliveryLog
from tests.fakes.devices import InMemoryDeviceStore
from tests.fakes.memory import InMemoryProfileStore

NOON = datetime(2026, 3, 2, 11, tzinfo=UTC)
PAST_THE_LEASE = timedelta(seconds=CLAIM_LEASE_S + 60)  # SQS's 360 s visibility timeout


def job(source: str, template_id: str, **overrides: Any) -> str:
    data: dict[str, Any] = {
        "job_id": "job-1",
        "user_id": "ann",
        "dedupe_key": "works-w11-ann",
        "created_at": NOON.isoformat(),
        "source": source,
        "template": {
            "id": template_id,
            "category": "product_updates",
            "text": {"en": {"title": "Works tonight", "body": "Expect delays"}},
        },
    }
    data.update(overrides)
    return PushJob.model_validate(data).model_dump_json()


BROADCAST = job("broadcast:b42", "works-notice")
CAMPAIGN = job("campaign:welcome", "welcome.a", job_id="job-2", dedupe_key="welcome-ann")


class Parts:
    def __init__(self) -> None:
        self.clock = ManualClock(NOON)
        self.devices, self.fcm = InMemoryDeviceStore(), FakeFcm()
        self.profiles = InMemoryProfileStore()
        self.log = InMemoryDeliveryLog(counters=self.profiles)
        self.devices.save_preferences(
            Preferences(user_id="ann", version=1, categories={"product_updates": True}), None
        )
        for device_id in ("phone", "tablet"):
            self.devices.put_device(
                Device(
                    user_id="ann",
                    device_id=device_id,
                    token=f"tok-{device_id}",
                    platform="android",
                    locale="en-GB",
                    timezone="Europe/Amsterdam",
                    created_at=0,
                    updated_at=int(NOON.timestamp()),
                )
            )
        self.service = PushService(self.devices, self.log, self.fcm, EngagementConfig(), self.clock)

    def sends(self) -> Counter[str]:
        return Counter(message["token"] for message in self.fcm.sent)

    def counted(self) -> dict[str, dict[str, int]]:
        return {n: dict(c) for n, c in self.profiles.named_counters.items() if +c}

    def outcomes(self) -> dict[str | None, str]:
        return {d.device_id: d.outcome for d in self.log.for_user("ann")}


@pytest.fixture
def parts() -> Parts:
    return Parts()


@pytest.mark.parametrize(
    ("body", "counted"),
    [
        (BROADCAST, {"broadcast#b42": {"delivered": 1}}),  # once per user: the first device
        (CAMPAIGN, {f"campaign#welcome#{int(NOON.timestamp()) // 86_400}": {"delivered.a": 1}}),
    ],
    ids=["broadcast", "campaign"],
)
def test_a_crash_after_the_count_before_the_ack_never_sends_or_counts_again(
    parts: Parts, body: str, counted: dict[str, dict[str, int]]
) -> None:
    """The batch committed (its marker and counts written), then the function died before
    SQS deleted the record: every redelivery finds the claims sent, and writes nothing."""
    assert parts.service.process(body, receive_count=1).done
    assert parts.counted() == counted
    rows = dict(parts.log.rows)

    again = parts.service.process(body, receive_count=2)  # at once, within the lease
    assert again.done and again.deliveries == []
    parts.clock.advance(PAST_THE_LEASE)
    for receive_count in (3, 4):  # and again, past the lease
        later = parts.service.process(body, receive_count=receive_count)
        assert later.done and later.deliveries == []

    assert parts.log.rows == rows  # nothing written again
    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}  # once per device
    assert parts.counted() == counted  # once
    assert parts.outcomes() == {"phone": "sent", "tablet": "sent"}


@pytest.mark.parametrize("body", [BROADCAST, CAMPAIGN], ids=["broadcast", "campaign"])
def test_a_crash_after_the_claim_before_the_count_is_unknown_never_resent(
    parts: Parts, body: str
) -> None:
    """Sent, then the batch's one write (marker and counts) refused, or the function died
    before it: the claims stay `sending` in a batch that never commits. A redelivery within
    the lease waits for it to end; after it the devices are recorded `unknown` (FCM may have
    accepted them), not sent to again, and nothing is counted for them."""
    parts.log.fail_commits = 1

    with pytest.raises(RuntimeError, match="refused"):  # the handler fails: all come back
        parts.service.process(body, receive_count=1)
    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}
    assert parts.outcomes() == {"phone": "sent", "tablet": "sent"}  # as readers see a claim

    soon = parts.service.process(body, receive_count=2)
    assert not soon.done and soon.delay_s == CLAIM_LEASE_S + 1  # the claims' lease ends then
    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}

    parts.clock.advance(PAST_THE_LEASE)
    late = parts.service.process(body, receive_count=3)
    assert late.done
    assert {(d.device_id, d.outcome, d.reason) for d in late.deliveries} == {
        ("phone", "unknown", "lease_expired"),
        ("tablet", "unknown", "lease_expired"),
    }
    assert parts.service.process(body, receive_count=4).deliveries == []
    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}
    assert parts.outcomes() == {"phone": "unknown", "tablet": "unknown"}
    assert parts.counted() == {}


def test_a_refused_failure_write_leaves_the_batch_uncommitted(parts: Parts) -> None:
    """FCM refused the phone's token, and recording that failed: the batch may not vouch for
    its `sending` claims, so it is not committed; the redelivery records both `unknown`."""
    parts.fcm.script["tok-phone"] = [("UNREGISTERED", None)]
    parts.log.fail_outcomes = 1

    with pytest.raises(RuntimeError, match="not committed"):
        parts.service.process(BROADCAST, receive_count=1)
    parts.clock.advance(PAST_THE_LEASE)
    assert parts.service.process(BROADCAST, receive_count=2).done
    assert parts.sends() == {"tok-tablet": 1}
    assert parts.outcomes() == {"phone": "unknown", "tablet": "unknown"}
    assert parts.counted() == {}


def test_an_fcm_failure_after_the_claim_is_recorded_and_counted_once(parts: Parts) -> None:
    parts.fcm.script["tok-phone"] = [("UNREGISTERED", None)]

    first = parts.service.process(BROADCAST, receive_count=1)
    assert first.done
    assert {(d.device_id, d.outcome, d.reason) for d in first.deliveries} == {
        ("phone", "failed", "UNREGISTERED"),
        ("tablet", "sent", None),
    }
    parts.clock.advance(PAST_THE_LEASE)
    assert parts.service.process(BROADCAST, receive_count=2).deliveries == []  # a duplicate
    assert parts.sends() == {"tok-tablet": 1}
    assert parts.outcomes() == {"phone": "failed", "tablet": "sent"}
    assert parts.counted() == {"broadcast#b42": {"delivered": 1, "failed.UNREGISTERED": 1}}


def test_a_crash_before_the_batch_commits_counts_what_was_recorded_once(parts: Parts) -> None:
    """FCM refused the phone (recorded `failed`) and accepted the tablet, then the function
    died before the batch's write: past the lease the tablet is `unknown`, never sent again,
    and the phone's failure, which its batch never counted, is counted by the redelivery's."""
    parts.fcm.script["tok-phone"] = [("UNREGISTERED", None)]

    def died(*args: Any) -> None:
        raise SystemExit("the function was killed")

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(parts.log, "commit_batch", died)
        with pytest.raises(SystemExit):
            parts.service.process(BROADCAST, receive_count=1)
    parts.clock.advance(PAST_THE_LEASE)
    late = parts.service.process(BROADCAST, receive_count=2)
    assert late.done
    assert [(d.device_id, d.outcome) for d in late.deliveries] == [("tablet", "unknown")]
    for receive_count in (3, 4):
        assert parts.service.process(BROADCAST, receive_count=receive_count).deliveries == []
    assert parts.sends() == {"tok-tablet": 1}
    assert parts.outcomes() == {"phone": "failed", "tablet": "unknown"}
    assert parts.counted() == {"broadcast#b42": {"failed.UNREGISTERED": 1}}


def test_a_send_whose_answer_is_lost_is_unknown_never_resent(parts: Parts) -> None:
    """FCM's answer never arrives (a timeout, the function killed): FCM may have accepted it."""
    real_send = parts.fcm.send

    def lost(messages: Any) -> list[Any]:
        real_send(messages)
        if messages:
            raise TimeoutError("the function timed out waiting for FCM")
        return []

    parts.fcm.send = lost  # type: ignore[method-assign]
    with pytest.raises(TimeoutError):
        parts.service.process(BROADCAST, receive_count=1)
    parts.fcm.send = real_send  # type: ignore[method-assign]
    parts.clock.advance(PAST_THE_LEASE)
    redelivered = parts.service.process(BROADCAST, receive_count=2)
    assert redelivered.done and redelivered.deliveries == []  # recorded when it was lost
    assert parts.outcomes() == {"phone": "unknown", "tablet": "unknown"}
    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}
    assert parts.counted() == {}


def test_a_sender_that_cannot_start_claims_nothing_and_sends_on_redelivery(
    parts: Parts,
) -> None:
    """Credentials unreadable: nothing was sent, so nothing is claimed and the retry sends."""
    real_send = parts.fcm.send

    def broken(messages: Any) -> list[Any]:
        raise RuntimeError("secret unreadable")

    parts.fcm.send = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        parts.service.process(BROADCAST, receive_count=1)
    parts.fcm.send = real_send  # type: ignore[method-assign]
    parts.clock.advance(PAST_THE_LEASE)
    assert parts.service.process(BROADCAST, receive_count=2).done
    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}
    assert parts.counted() == {"broadcast#b42": {"delivered": 1}}


def test_a_retryable_failure_is_still_sent_on_redelivery(parts: Parts) -> None:
    parts.fcm.script["tok-phone"] = [("UNAVAILABLE", None)]
    first = parts.service.process(BROADCAST, receive_count=1)
    assert not first.done
    parts.clock.advance(timedelta(seconds=first.delay_s))
    assert parts.service.process(BROADCAST, receive_count=2).done
    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}
    assert parts.outcomes() == {"phone": "sent", "tablet": "sent"}
    assert parts.counted() == {"broadcast#b42": {"delivered": 1}}


def other_environment(parts: Parts) -> PushService:
    """A second push_sender environment over the same tables (SQS may hand the same job to
    two at once)."""
    return PushService(parts.devices, parts.log, parts.fcm, EngagementConfig(), parts.clock)


def test_a_duplicate_while_the_first_is_sending_sends_nothing_and_counts_once(
    parts: Parts,
) -> None:
    """The second environment gets the job while the first is between its claim and its
    batch's write: it sends nothing and comes back after the lease, finding it all sent."""
    second = other_environment(parts)
    real_send = parts.fcm.send
    during: list[Any] = []

    def send_while_the_duplicate_runs(messages: Any) -> list[Any]:
        if messages and not during:
            during.append(second.process(CAMPAIGN, receive_count=1))
        return real_send(messages)

    parts.fcm.send = send_while_the_duplicate_runs  # type: ignore[method-assign]
    assert parts.service.process(CAMPAIGN, receive_count=1).done
    (duplicate,) = during
    assert not duplicate.done and duplicate.delay_s == CLAIM_LEASE_S + 1
    assert duplicate.deliveries == []
    parts.clock.advance(PAST_THE_LEASE)
    again = second.process(CAMPAIGN, receive_count=2)
    assert again.done and again.deliveries == []
    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}
    day = int(NOON.timestamp()) // 86_400
    assert parts.counted() == {f"campaign#welcome#{day}": {"delivered.a": 1}}


def test_concurrent_duplicates_send_once_per_device_and_count_once(parts: Parts) -> None:
    """Eight environments process the same job at once, in batches of their own, then
    again past the lease: one send per device, one `delivered` for the job."""
    environments = [other_environment(parts) for _ in range(8)]
    start = threading.Barrier(len(environments))

    def run(service: PushService) -> None:
        service.new_batch()
        start.wait()
        service.process(BROADCAST, receive_count=1)
        service.end_batch()

    with ThreadPoolExecutor(len(environments)) as pool:
        list(pool.map(run, environments))
    parts.clock.advance(PAST_THE_LEASE)
    for n, service in enumerate(environments):
        assert service.process(BROADCAST, receive_count=2 + n).done
    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}
    assert parts.outcomes() == {"phone": "sent", "tablet": "sent"}
    assert parts.counted() == {"broadcast#b42": {"delivered": 1}}
