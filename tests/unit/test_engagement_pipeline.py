"""Engagement counters in the pipeline (in-memory fakes): opens, delivered/failed, opt-outs,
each counted exactly once per campaign/variant/day under duplicates and redelivery."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from nudge.clock import ManualClock, to_epoch
from nudge.domain.engagement.attribution import (
    NOT_CAMPAIGNS,
    OTHER_MESSAGES,
    UNATTRIBUTED,
    EngagementRecord,
    overall,
    record_increments,
    unattributed,
)
from nudge.domain.engagement.counters import cells_of, day_of_counter, storage_field
from nudge.domain.profiles.aggregates import OPT_OUT_EVENT
from nudge.models.device import Device, DeviceRegistration, PreferencesUpdate
from nudge.services.campaigns.runner import counter_name
from nudge.services.messaging.devices import DevicesService
from nudge.services.messaging.push import PushService
from tests.conftest import make_event
from tests.fakes.delivery_log import FakeFcm, InMemoryDeliveryLog
from tests.fakes.memory import InMemoryHistoryStore, InMemoryPublisher
from tests.unit.test_campaign_pipeline import WELCOME, Pipeline, campaign

AT = 1_772_442_000  # 2026-03-02 09:00 UTC

RECORDS = [
    EngagementRecord("1", "targeted", AT, "welcome", category="marketing"),
    EngagementRecord("2", "sent", AT, "welcome", "a", "rich", "marketing"),
    EngagementRecord("3", "holdout", AT, "welcome", "holdout", category="marketing"),
    EngagementRecord("4", "converted", AT, "welcome", "holdout", category="marketing"),
    EngagementRecord("5", "converted", AT, "welcome", "a", "rich", "marketing"),
    EngagementRecord("6", "suppressed", AT, "welcome", category="marketing", reason="consent"),
    EngagementRecord("7", "delivered", AT, "welcome", "a", "rich", "marketing"),
    EngagementRecord("8", "opened", AT, "welcome", "a", "rich", "marketing"),
    EngagementRecord("9", "failed", AT, "welcome", "a", "rich", "marketing", "UNREGISTERED"),
    EngagementRecord("10", "opt_out", AT, "welcome", "a", "rich", "marketing", "uninstall"),
    EngagementRecord("11", "opt_out", AT, UNATTRIBUTED, category="marketing", reason="category"),
    EngagementRecord("12", "opt_out", AT, UNATTRIBUTED, reason="permission"),
    EngagementRecord("13", "opt_out", AT, OTHER_MESSAGES, category="marketing", reason="category"),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: f"{r.kind}-{r.campaign}-{r.reason}")
def test_stored_fields_read_back_as_the_domain_increments(record: EngagementRecord) -> None:
    name, field = storage_field(record)
    campaign_id, day = day_of_counter(name) or ("?", "?")
    category = "" if record.campaign in NOT_CAMPAIGNS else "marketing"
    cells = cells_of(campaign_id, day, {field: 1}, {"a": "rich"}, category)
    assert {(cell, k): v for cell, c in cells.items() for k, v in c.items()} == record_increments(
        record
    )


def test_unknown_fields_and_other_counters_are_left_out() -> None:
    assert day_of_counter("moves#123") is None
    assert cells_of("welcome", "2026-03-02", {"mystery": 3, "failed.a": 1, "sent.a": 0}) == {}


# --- the pipeline ----------------------------------------------------------------------------


class Engaged(Pipeline):
    """The campaign pipeline plus push_sender over the same counters, and one device."""

    def __init__(self, clock: ManualClock, *campaigns: object) -> None:
        super().__init__(clock, *campaigns)  # type: ignore[arg-type]
        self.fcm = FakeFcm()
        self.log = InMemoryDeliveryLog(counters=self.profiles)
        self.events = InMemoryPublisher()
        self.sender = PushService(
            self.devices, self.log, self.fcm, self.config, clock, events=self.events
        )
        self.processor.deliveries = self.log  # opt-outs are blamed on what it shows delivered

    def device(self, user: str, device_id: str = "phone") -> None:
        self.devices.put_device(
            Device(
                user_id=user,
                device_id=device_id,
                token=f"tok-{user}-{device_id}",
                platform="android",
                timezone="Europe/Amsterdam",  # as the SDK registers it: quiet hours need a zone
                created_at=0,
                updated_at=to_epoch(self.clock.now()),
            )
        )

    def deliver_all(self, times: int = 1) -> None:
        for _ in range(times):  # SQS delivers at least once
            for body in self.queue.bodies:
                self.sender.process(body)

    def total(self, campaign_id: str) -> Counter[str]:
        """The campaign's counters summed over the last three days."""
        total: Counter[str] = Counter()
        for back in range(3):
            total.update(self.counts(campaign_id, self.clock.now() - timedelta(days=back)))
        return total


def welcome_sent(clock: ManualClock, *campaigns: object) -> tuple[Engaged, str]:
    p = Engaged(clock, *(campaigns or (campaign(WELCOME),)))
    p.consent("ann")
    p.device("ann")
    p.act("ann", "signup_completed")
    (job,) = p.jobs("ann")
    return p, job.job_id


def test_delivered_once_per_job_whatever_the_devices_and_redeliveries(clock: ManualClock) -> None:
    p = Engaged(clock, campaign(WELCOME))
    p.consent("ann")
    p.device("ann", "phone")
    p.device("ann", "tablet")
    p.act("ann", "signup_completed")
    p.deliver_all(times=3)
    assert len(p.fcm.sent) == 2  # one per device
    assert p.total("welcome")["delivered.a"] == 1  # one message, however many devices


def test_failures_count_by_code_and_an_uninstall_becomes_an_opt_out_event(
    clock: ManualClock,
) -> None:
    p = Engaged(clock, campaign(WELCOME))
    p.consent("ann")
    p.device("ann")
    p.fcm.script["tok-ann-phone"] = [("UNREGISTERED", None)]
    p.act("ann", "signup_completed")
    p.deliver_all(times=2)
    counts = p.total("welcome")
    assert counts["failed.a.UNREGISTERED"] == 1 and counts["delivered.a"] == 0
    (batch,) = p.events.sent
    (event,) = batch.events
    assert event.name == OPT_OUT_EVENT and event.properties["kind"] == "uninstall"
    assert event.properties["message_id"] == p.jobs("ann")[0].job_id
    # the failed message was not received: with nothing else sent, nobody is blamed
    p.send("ann", event)
    p.send("ann", event)  # redelivered
    assert "opt_out.a.uninstall" not in p.total("welcome")
    unattributed = p.total(UNATTRIBUTED)
    assert unattributed == {"opt_out..uninstall": 1}


def test_a_suppression_at_send_time_counts_once(clock: ManualClock) -> None:
    p = Engaged(clock, campaign(WELCOME))
    p.consent("ann")  # no device registered
    p.act("ann", "signup_completed")
    p.deliver_all(times=2)
    assert p.total("welcome")["suppressed.no_device"] == 1


def test_a_job_not_from_a_campaign_counts_nothing(clock: ManualClock) -> None:
    from tests.unit.test_push_service import job

    p = Engaged(clock)
    p.device("ann")
    p.sender.process(job())
    assert not p.profiles.named_counters


def test_an_open_counts_once_per_message(clock: ManualClock) -> None:
    p, job_id = welcome_sent(clock)
    p.deliver_all()
    opened = p.act("ann", "push_opened", message_id=job_id)
    p.send("ann", opened)  # the same event redelivered
    p.act("ann", "push_opened", message_id=job_id)  # another open event (another device)
    p.act("ann", "push_opened", message_id="cmp-unknown")
    p.act("ann", "push_opened")  # no message id at all
    counts = p.total("welcome")
    assert counts["opened.a"] == 1 and counts["delivered.a"] == 1


def test_an_opt_out_is_blamed_on_the_last_message_of_its_category(clock: ManualClock) -> None:
    tips = campaign(
        "id: tips\ncategory: product_updates\ntrigger: {event: {name: tour_done}}",
    )
    p, _ = welcome_sent(clock, campaign(WELCOME), tips)
    p.deliver_all()
    clock.advance(timedelta(hours=1))
    p.act("ann", "tour_done")  # a later product_updates message
    p.deliver_all()
    clock.advance(timedelta(hours=1))
    optout = make_event(OPT_OUT_EVENT, clock.now(), kind="category", category="marketing")
    p.send("ann", optout)
    p.send("ann", optout)  # duplicate
    assert p.total("welcome")["opt_out.a.category"] == 1
    assert "opt_out.a.category" not in p.total("tips")
    # a permission revocation takes the last message of any category
    p.act("ann", OPT_OUT_EVENT, kind="permission")
    assert p.total("tips")["opt_out.a.permission"] == 1


def test_an_opt_out_after_a_broadcast_is_blamed_on_it_not_on_an_earlier_campaign(
    clock: ManualClock,
) -> None:
    from tests.unit.test_push_service import job

    p, _ = welcome_sent(clock)
    p.deliver_all()
    clock.advance(timedelta(hours=1))
    notice = job("marketing", job_id="bc-1", source="broadcast:sale", dedupe_key="sale-1")
    p.sender.process(notice)
    p.sender.process(notice)  # redelivered: still one message received
    clock.advance(timedelta(minutes=5))
    opt_out = p.act("ann", OPT_OUT_EVENT, kind="category", category="marketing")
    p.send("ann", opt_out)  # the same event redelivered: counted once
    assert not any(k.startswith("opt_out") for k in p.total("welcome"))
    assert p.total(OTHER_MESSAGES) == {"opt_out.marketing.category": 1}
    # and in the broadcast's own outcomes, next to what it delivered
    assert p.profiles.counters(["broadcast#sale"]) == {
        "broadcast#sale": {"delivered": 1, "opt_out.category": 1}
    }
    # the report keeps it apart from the campaigns and from the unattributed ones
    cells = cells_of(OTHER_MESSAGES, "2026-03-02", {"opt_out.marketing.category": 1})
    assert unattributed(cells, pool=OTHER_MESSAGES) == {"opt_out": 1, "opt_out.category": 1}
    assert unattributed(cells) == {} and overall(cells) == {}


def test_a_campaign_send_that_never_arrived_is_not_blamed(clock: ManualClock) -> None:
    p = Engaged(clock, campaign(WELCOME))
    p.consent("ann")  # no device: push_sender suppresses the send
    p.act("ann", "signup_completed")
    p.deliver_all()
    p.act("ann", OPT_OUT_EVENT, kind="permission")
    assert "opt_out.a.permission" not in p.total("welcome")
    assert p.total(UNATTRIBUTED) == {"opt_out..permission": 1}


def test_an_opt_out_outside_the_window_or_before_any_message_is_unattributed(
    clock: ManualClock,
) -> None:
    p = Engaged(clock, campaign(WELCOME))
    p.act("bob", OPT_OUT_EVENT, kind="permission")  # never received anything
    p.consent("ann")
    p.device("ann")
    p.act("ann", "signup_completed")
    clock.advance(timedelta(hours=25))  # the window is 24 h
    p.act("ann", OPT_OUT_EVENT, kind="category", category="marketing")
    assert p.total(UNATTRIBUTED) == {"opt_out..permission": 1, "opt_out.marketing.category": 1}
    assert not any(k.startswith("opt_out") for k in p.total("welcome"))


def test_clock_skew_an_opt_out_stamped_before_the_send_blames_nothing(clock: ManualClock) -> None:
    p, _ = welcome_sent(clock)
    skewed = make_event(OPT_OUT_EVENT, clock.now() - timedelta(minutes=5), kind="permission")
    p.send("ann", skewed)
    assert p.total(UNATTRIBUTED)["opt_out..permission"] == 1


def test_malformed_opt_outs_are_ignored_and_opt_outs_are_not_activity(clock: ManualClock) -> None:
    p, _ = welcome_sent(clock)
    before = p.profiles.get("ann")
    assert before is not None
    clock.advance(timedelta(days=2))
    outcome = p.processor.process(
        [
            (
                "bad",
                p_batch("ann", make_event(OPT_OUT_EVENT, clock.now(), kind="sulk")),
            ),
            (
                "ok",
                p_batch("ann", make_event(OPT_OUT_EVENT, clock.now(), kind="permission")),
            ),
        ]
    )
    assert outcome.failures == {}
    assert len(outcome.ignored) == 1 and "kind must be one of" in outcome.ignored[0]
    assert outcome.engagement == {("opt_out", "unknown"): 1}
    after = p.profiles.get("ann")
    assert after is not None and after.last_seen == before.last_seen


def p_batch(user: str, *events: object) -> str:
    from nudge.models.events import QueuedBatch

    return QueuedBatch.model_validate(
        {"user_id": user, "received_at": "2026-03-04T09:00:00Z", "events": list(events)}
    ).model_dump_json()


def test_profiles_stored_before_analytics_still_load() -> None:
    from nudge.models.profile import SendRecord

    old = SendRecord.model_validate({"at": AT, "campaign": "welcome", "category": "marketing"})
    assert old.variant == "" and old.job is None and not old.opened


def test_counter_names_are_per_campaign_and_day() -> None:
    assert counter_name("welcome", AT) == f"campaign#welcome#{AT // 86_400}"


# --- devices_api ----------------------------------------------------------------------------


@pytest.fixture
def devices(clock: ManualClock) -> tuple[DevicesService, InMemoryPublisher]:
    from nudge.domain.config import EngagementConfig
    from tests.fakes.devices import InMemoryDeviceStore

    events = InMemoryPublisher()
    service = DevicesService(
        InMemoryDeviceStore(), InMemoryHistoryStore(), EngagementConfig(), clock, events
    )
    return service, events


def opt_outs(events: InMemoryPublisher) -> list[dict[str, object]]:
    return [e.properties for b in events.sent for e in b.events if e.name == OPT_OUT_EVENT]


def test_turning_a_category_off_publishes_an_opt_out(
    devices: tuple[DevicesService, InMemoryPublisher],
) -> None:
    service, events = devices
    service.update_preferences("ann", PreferencesUpdate(categories={"marketing": True}))
    assert opt_outs(events) == []  # granting is not an opt-out
    service.update_preferences("ann", PreferencesUpdate(categories={"marketing": False}))
    service.update_preferences("ann", PreferencesUpdate(categories={"location": False}))
    assert opt_outs(events) == [{"kind": "category", "category": "marketing", "source": "app"}]


def test_revoking_push_permission_publishes_an_opt_out(
    devices: tuple[DevicesService, InMemoryPublisher],
) -> None:
    service, events = devices
    reg = {"token": "fcm-token-aaaaaaaa", "platform": "android"}
    service.register("ann", "phone", DeviceRegistration.model_validate(reg))
    service.register("ann", "phone", DeviceRegistration.model_validate(reg))
    assert opt_outs(events) == []
    denied = DeviceRegistration.model_validate({**reg, "push_enabled": False})
    service.register("ann", "phone", denied)
    service.register("ann", "phone", denied)  # still denied: no second opt-out
    assert opt_outs(events) == [{"kind": "permission", "device_id": "phone"}]
