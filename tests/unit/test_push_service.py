"""push_sender logic over fakes: consent, quiet hours, once per key, FCM failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nudge.clock import ManualClock
from nudge.domain.config import EngagementConfig
from nudge.models.device import Device, Preferences
from nudge.models.push import PushJob
from nudge.services.messaging.push import PoisonJob, PushService
from tests.fakes.delivery_log import FakeFcm, InMemoryDeliveryLog
from tests.fakes.devices import InMemoryDeviceStore

NOON = datetime(2026, 3, 2, 11, tzinfo=UTC)  # 12:00 in Amsterdam


def job(category: str = "transactional", **overrides: Any) -> str:
    data: dict[str, Any] = {
        "job_id": "job-1",
        "user_id": "ann",
        "dedupe_key": "order-17-shipped",
        "created_at": NOON.isoformat(),
        "data": {"order": "17"},
        "template": {
            "id": "order-shipped",
            "category": category,
            "text": {
                "en": {"title": "Order {{ order }} shipped", "body": "On its way"},
                "nl": {"title": "Bestelling {{ order }} verstuurd", "body": "Onderweg"},
            },
        },
    }
    data.update(overrides)
    return PushJob.model_validate(data).model_dump_json()


@pytest.fixture
def parts() -> tuple[PushService, FakeFcm, InMemoryDeviceStore, ManualClock]:
    clock = ManualClock(NOON)
    devices, fcm = InMemoryDeviceStore(), FakeFcm()
    for device_id, locale in (("phone", "nl-NL"), ("tablet", "en-GB")):
        devices.put_device(
            Device(
                user_id="ann",
                device_id=device_id,
                token=f"tok-{device_id}",
                platform="android",
                locale=locale,
                timezone="Europe/Amsterdam",
                created_at=0,
                updated_at=int(NOON.timestamp()),
            )
        )
    service = PushService(devices, InMemoryDeliveryLog(), fcm, EngagementConfig(), clock)
    return service, fcm, devices, clock


def test_sends_to_every_device_in_its_language(parts) -> None:  # type: ignore[no-untyped-def]
    service, fcm, _, _ = parts
    result = service.process(job())
    assert result.done
    titles = sorted(m["notification"]["title"] for m in fcm.sent)
    assert titles == ["Bestelling 17 verstuurd", "Order 17 shipped"]
    assert {d.outcome for d in result.deliveries} == {"sent"}


def test_a_redelivered_job_is_not_sent_twice(parts) -> None:  # type: ignore[no-untyped-def]
    service, fcm, _, _ = parts
    service.process(job())
    again = service.process(job(job_id="job-1-retry"))
    assert again.done and again.deliveries == []
    assert len(fcm.sent) == 2


def test_marketing_needs_consent(parts) -> None:  # type: ignore[no-untyped-def]
    service, fcm, devices, _ = parts
    result = service.process(job("marketing", dedupe_key="promo-1"))
    assert result.done and fcm.sent == []
    assert (result.deliveries[0].outcome, result.deliveries[0].reason) == ("suppressed", "consent")
    devices.save_preferences(
        Preferences(user_id="ann", version=1, categories={"marketing": True}), None
    )
    assert service.process(job("marketing", dedupe_key="promo-2")).deliveries[0].outcome == "sent"


def test_a_hard_transactional_opt_out_is_respected(parts) -> None:  # type: ignore[no-untyped-def]
    service, fcm, devices, _ = parts
    devices.save_preferences(
        Preferences(user_id="ann", version=1, categories={"transactional": False}), None
    )
    assert service.process(job()).deliveries[0].reason == "consent"
    assert fcm.sent == []


def test_quiet_hours_defer_to_the_morning_in_the_users_zone(parts) -> None:  # type: ignore[no-untyped-def]
    service, fcm, _, clock = parts
    clock.set(datetime(2026, 3, 2, 22, 30, tzinfo=UTC))  # 23:30 in Amsterdam
    marketing = job("product_updates", created_at=clock.now().isoformat())
    result = service.process(marketing)
    assert not result.done and fcm.sent == []
    assert result.delay_s == int(timedelta(hours=8, minutes=30).total_seconds())  # until 08:00
    clock.advance(timedelta(seconds=result.delay_s))
    assert service.process(marketing).done
    assert len(fcm.sent) == 2


def test_transactional_ignores_quiet_hours_by_default(parts) -> None:  # type: ignore[no-untyped-def]
    service, fcm, _, clock = parts
    clock.set(datetime(2026, 3, 2, 22, 30, tzinfo=UTC))
    assert service.process(job(created_at=clock.now().isoformat())).done
    assert len(fcm.sent) == 2


def test_stale_jobs_are_dropped(parts) -> None:  # type: ignore[no-untyped-def]
    service, fcm, _, clock = parts
    clock.advance(timedelta(minutes=20))
    result = service.process(job(ttl_seconds=900))
    assert result.deliveries[0].reason == "expired" and fcm.sent == []


def test_uninstalled_tokens_are_removed(parts) -> None:  # type: ignore[no-untyped-def]
    service, fcm, devices, _ = parts
    fcm.script["tok-phone"] = [("UNREGISTERED", None)]
    result = service.process(job())
    assert result.done
    assert {(d.device_id, d.outcome, d.reason) for d in result.deliveries} == {
        ("phone", "failed", "UNREGISTERED"),
        ("tablet", "sent", None),
    }
    assert [d.device_id for d in devices.devices("ann")] == ["tablet"]


def test_throttling_retries_later_honouring_retry_after(parts) -> None:  # type: ignore[no-untyped-def]
    service, fcm, _, _ = parts
    fcm.script["tok-phone"] = [("QUOTA_EXCEEDED", 120.0)]
    first = service.process(job(), receive_count=1)
    assert not first.done and first.delay_s == 120
    assert len(fcm.sent) == 1  # the tablet got it
    second = service.process(job(), receive_count=2)
    assert second.done
    assert sorted(m["token"] for m in fcm.sent) == ["tok-phone", "tok-tablet"]  # once each


def test_no_device_and_poison_jobs(parts) -> None:  # type: ignore[no-untyped-def]
    service, _, _, _ = parts
    assert service.process(job(user_id="nobody")).deliveries[0].reason == "no_device"
    with pytest.raises(PoisonJob):
        service.process('{"job_id": 1}')


def test_a_template_missing_data_fails_without_sending(parts) -> None:  # type: ignore[no-untyped-def]
    service, fcm, _, _ = parts
    result = service.process(job(data={}))
    assert result.done and fcm.sent == []
    assert result.deliveries[0].reason.startswith("template: title: missing data")  # type: ignore[union-attr]


def test_opens_are_attributed_to_the_send_whatever_the_order(parts) -> None:  # type: ignore[no-untyped-def]
    from nudge.models.events import QueuedBatch
    from nudge.services.pipeline.processing import EventProcessingService
    from tests.conftest import make_event
    from tests.fakes.memory import InMemoryHistoryStore, InMemoryProfileStore

    service, _, _, clock = parts
    service.process(job())
    processor = EventProcessingService(
        InMemoryProfileStore(), InMemoryHistoryStore(), EngagementConfig(), clock, service.log
    )
    later = make_event("push_opened", NOON + timedelta(minutes=9), message_id="job-1")
    earlier = make_event("push_opened", NOON + timedelta(minutes=2), message_id="job-1")
    dismissed = make_event("push_dismissed", NOON + timedelta(minutes=1), message_id="job-1")
    for events in ([later], [earlier, dismissed], [later]):  # reordered and duplicated
        body = QueuedBatch(user_id="ann", received_at=NOON, events=events).model_dump_json()
        assert processor.process([("m", body)]).failures == {}
    opened = {d.opened_at for d in service.log.for_user("ann")}
    assert opened == {int((NOON + timedelta(minutes=2)).timestamp())}
    assert {d.dismissed_at for d in service.log.for_user("ann")} == {
        int((NOON + timedelta(minutes=1)).timestamp())
    }
    stranger = QueuedBatch(
        user_id="bob",
        received_at=NOON,
        events=[make_event("push_opened", NOON, message_id="job-1")],
    )
    processor.process([("m2", stranger.model_dump_json())])  # someone else's message id
    assert {d.opened_at for d in service.log.for_user("ann")} == opened


# --- a broadcast's outcome counters ------------------------------------------------------------


def broadcast_parts() -> tuple[PushService, FakeFcm, Any, ManualClock]:
    from tests.fakes.memory import InMemoryProfileStore

    clock = ManualClock(NOON)
    devices, fcm, profiles = InMemoryDeviceStore(), FakeFcm(), InMemoryProfileStore()
    for user, device_id in (("ann", "phone"), ("ann", "tablet"), ("bob", "phone"), ("cy", "x")):
        devices.put_device(
            Device(
                user_id=user,
                device_id=device_id,
                token=f"tok-{user}-{device_id}",
                platform="android",
                locale="nl-NL",
                timezone="Europe/Amsterdam",
                created_at=0,
                updated_at=int(NOON.timestamp()),
            )
        )
    log = InMemoryDeliveryLog(counters=profiles)
    return PushService(devices, log, fcm, EngagementConfig(), clock), fcm, profiles, clock


def broadcast_job(user: str, category: str = "product_updates", notice: str = "works") -> str:
    return job(
        category,
        job_id=f"{notice}-{user}",
        user_id=user,
        dedupe_key=f"{notice}-w11-{user}",
        source="broadcast:b42",
    )


def outcomes(profiles: Any) -> dict[str, Any]:
    from nudge.domain.engagement.broadcast_counters import outcome_summary

    return outcome_summary(profiles.counters(["broadcast#b42"]).get("broadcast#b42", {}))


def test_a_broadcast_counts_each_user_once_delivered_and_each_failed_device() -> None:
    service, fcm, profiles, _ = broadcast_parts()
    fcm.script["tok-bob-phone"] = [("UNREGISTERED", None)]
    for user in ("ann", "bob", "cy", "nobody", "ann"):  # ann's job delivered twice
        service.process(broadcast_job(user))
    for _ in range(2):  # cy never said yes to marketing: suppressed (once, redelivered)
        service.process(broadcast_job("cy", category="marketing", notice="offer"))
    service.process(job())  # no broadcast's: counted nowhere

    counted = outcomes(profiles)

    assert (counted["delivered"], counted["failed_by_code"]) == (2, {"UNREGISTERED": 1})
    assert counted["suppressed_by_reason"] == {"consent": 1, "no_device": 1}
    assert (counted["failed"], counted["suppressed"]) == (1, 2)
    assert counted["opened"] == 0 and counted["open_rate"] == 0.0
    assert set(profiles.named_counters) == {"broadcast#b42"}


def test_a_broadcast_open_counts_once_per_user_whatever_device_order_or_redelivery() -> None:
    from nudge.models.events import QueuedBatch
    from nudge.services.pipeline.processing import EventProcessingService
    from tests.conftest import make_event
    from tests.fakes.memory import InMemoryHistoryStore

    service, _, profiles, clock = broadcast_parts()
    for user in ("ann", "bob"):
        service.process(broadcast_job(user))
    service.process(broadcast_job("cy", category="marketing"))  # suppressed: never arrived
    processor = EventProcessingService(
        profiles, InMemoryHistoryStore(), EngagementConfig(), clock, service.log
    )
    # ann opens on both devices (two events), the batch comes again, and reordered
    phone = make_event("push_opened", NOON + timedelta(minutes=5), message_id="works-ann")
    tablet = make_event("push_opened", NOON + timedelta(minutes=2), message_id="works-ann")
    for events in ([phone], [tablet, phone], [phone]):
        body = QueuedBatch(user_id="ann", received_at=NOON, events=events).model_dump_json()
        assert processor.process([("m", body)]).failures == {}
    dismissed = make_event("push_dismissed", NOON, message_id="works-bob")
    body = QueuedBatch(user_id="bob", received_at=NOON, events=[dismissed]).model_dump_json()
    processor.process([("d", body)])
    stranger = make_event("push_opened", NOON, message_id="works-ann")  # not bob's message
    body = QueuedBatch(user_id="bob", received_at=NOON, events=[stranger]).model_dump_json()
    processor.process([("s", body)])
    bogus = make_event("push_opened", NOON, message_id="works-cy")  # an app bug: not received
    body = QueuedBatch(user_id="cy", received_at=NOON, events=[bogus]).model_dump_json()
    processor.process([("c", body)])

    counted = outcomes(profiles)

    assert (counted["delivered"], counted["opened"], counted["open_rate"]) == (2, 1, 0.5)
