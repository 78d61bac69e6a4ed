"""At most one send per device once FCM may have accepted a message, whatever fails after it
(issue 18): the outcome or its count written late, a crash, a lost FCM answer. Counters count
once. Over the fakes, with the same conditions as the DynamoDB delivery log."""

from __future__ import annotations

from collections import Counter
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
def test_a_count_refused_after_the_send_never_sends_again(
    parts: Parts, body: str, counted: dict[str, dict[str, int]]
) -> None:
    parts.log.fail_counts = 2  # both devices' counts refused (the old IAM grant's denial)

    first = parts.service.process(body, receive_count=1)

    assert not first.done  # the SQS record fails: it comes back
    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}
    assert parts.outcomes() == {"phone": "sent", "tablet": "sent"}  # the claims are permanent
    assert parts.counted() == {}

    again = parts.service.process(body, receive_count=2)  # at once, within the lease
    assert again.done
    assert sorted((d.device_id, d.outcome) for d in again.deliveries) == [
        ("phone", "sent"),
        ("tablet", "sent"),
    ]
    assert sum(again.engagement.values()) == 2  # their metrics, not emitted the first time
    parts.clock.advance(PAST_THE_LEASE)
    for receive_count in (3, 4):  # and again, past the lease
        later = parts.service.process(body, receive_count=receive_count)
        assert later.done and later.deliveries == []

    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}  # once per device
    assert parts.counted() == counted  # once
    assert parts.outcomes() == {"phone": "sent", "tablet": "sent"}


def test_one_refused_count_leaves_the_other_devices_recorded(parts: Parts) -> None:
    parts.log.fail_counts = 1  # the phone's count only

    first = parts.service.process(BROADCAST, receive_count=1)

    assert not first.done
    assert [(d.device_id, d.outcome) for d in first.deliveries] == [("tablet", "sent")]
    assert parts.outcomes() == {"phone": "sent", "tablet": "sent"}  # the phone's count pending
    assert parts.counted() == {"broadcast#b42": {"delivered": 1}}  # the tablet counted the user
    parts.clock.advance(PAST_THE_LEASE)
    parts.service.process(BROADCAST, receive_count=2)
    parts.service.process(BROADCAST, receive_count=3)
    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}
    assert parts.counted() == {"broadcast#b42": {"delivered": 1}}


def test_a_crash_between_send_and_outcome_is_unknown_never_resent(
    parts: Parts, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Sent, then nothing recorded at all (the outcome write refused, or the sender died):
    the claims stay `sending`. A redelivery within the lease waits for it to end; after it the
    devices are recorded `unknown`, and not sent to again. Nothing is counted for them."""

    def refused(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("ProvisionedThroughputExceededException")

    with monkeypatch.context() as patched:
        patched.setattr(parts.log, "record", refused)
        first = parts.service.process(BROADCAST, receive_count=1)
    assert not first.done and parts.sends() == {"tok-phone": 1, "tok-tablet": 1}

    soon = parts.service.process(BROADCAST, receive_count=2)
    assert not soon.done and soon.delay_s == CLAIM_LEASE_S + 1  # the claims' lease ends then
    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}

    parts.clock.advance(PAST_THE_LEASE)
    late = parts.service.process(BROADCAST, receive_count=3)
    assert late.done
    assert {(d.device_id, d.outcome, d.reason) for d in late.deliveries} == {
        ("phone", "unknown", "lease_expired"),
        ("tablet", "unknown", "lease_expired"),
    }
    assert parts.service.process(BROADCAST, receive_count=4).deliveries == []
    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}
    assert parts.outcomes() == {"phone": "unknown", "tablet": "unknown"}
    assert parts.counted() == {}


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
    assert redelivered.done
    assert {d.outcome for d in redelivered.deliveries} == {"unknown"}
    assert parts.sends() == {"tok-phone": 1, "tok-tablet": 1}


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
