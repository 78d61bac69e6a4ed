"""Engagement counters on moto: the stored campaign counters equal a recount of the delivery
log and the events, whatever is delivered twice (pushes, opens, opt-outs)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from nudge.adapters.delivery_log import DynamoDeliveryLog, records_of
from nudge.adapters.dynamodb import DynamoProfileStore
from nudge.adapters.history import DynamoHistoryStore
from nudge.adapters.metering import WriteMeter
from nudge.clock import to_epoch
from nudge.domain.config import EngagementConfig
from nudge.domain.engagement.attribution import (
    UNATTRIBUTED,
    Cell,
    EngagementRecord,
    OptOut,
    ReceivedMessage,
    attribute_opt_out,
    recount,
)
from nudge.domain.engagement.counters import cells_of, counter_name, merge
from nudge.domain.engagement.records import blame_key
from nudge.domain.profiles.aggregates import OPT_OUT_EVENT
from nudge.models.campaign import CampaignSet
from nudge.models.device import Device, Preferences
from nudge.models.events import IncomingEvent, QueuedBatch
from nudge.models.push import PushJob
from nudge.services.campaigns.runner import CampaignRunner
from nudge.services.messaging.push import PushService, campaign_variant
from nudge.services.pipeline.processing import EventProcessingService
from tests.conftest import make_event
from tests.fakes.delivery_log import FakeFcm
from tests.fakes.devices import InMemoryDeviceStore
from tests.fakes.memory import InMemoryCampaignCatalog, InMemoryPublisher, InMemoryQueue
from tests.integration.conftest import Aws
from tests.unit.test_campaign_pipeline import WELCOME, campaign

pytestmark = pytest.mark.integration
KINDS = ("delivered", "failed", "opened", "opt_out")


def test_counters_equal_a_recount_under_duplicate_delivery(aws: Aws) -> None:
    clock, config, meter = aws.clock, EngagementConfig(), WriteMeter()
    profiles = DynamoProfileStore("ProfilesTable", meter, aws.ddb)
    history = DynamoHistoryStore("HistoryTable", meter, aws.ddb)
    log = DynamoDeliveryLog("DeliveryLogTable", meter, aws.ddb, counters_table="ProfilesTable")
    welcome = campaign(
        WELCOME,
        variants=[
            {"id": "a", "title": "Hi", "body": "Hello"},
            {"id": "b", "title": "Hi", "body": "Hello", "image": "https://img.test/b.png"},
        ],
    )
    devices, queue, events = InMemoryDeviceStore(), InMemoryQueue(), InMemoryPublisher()
    catalog = InMemoryCampaignCatalog(CampaignSet(campaigns={"welcome": welcome}))
    runner = CampaignRunner(catalog, devices, queue, config)
    processor = EventProcessingService(profiles, history, config, clock, log, runner)
    fcm = FakeFcm()
    sender = PushService(devices, log, fcm, config, clock, events)
    batches = iter(range(10_000))

    def send(user: str, *batch: IncomingEvent) -> None:
        body = QueuedBatch(user_id=user, received_at=clock.now(), events=list(batch))
        outcome = processor.process([(f"m{next(batches)}", body.model_dump_json())])
        assert outcome.failures == {}

    users = [f"user-{i}" for i in range(12)]
    for i, user in enumerate(users):
        devices.save_preferences(Preferences(user_id=user, categories={"marketing": True}), None)
        for device in ("phone", "tablet")[: 1 + i % 2]:
            devices.put_device(
                Device(
                    user_id=user,
                    device_id=device,
                    token=f"tok-{user}-{device}",
                    platform="android",
                    timezone="Europe/Amsterdam",  # as the SDK registers it: quiet hours need a zone
                    created_at=0,
                    updated_at=to_epoch(clock.now()),
                )
            )
        if i % 4 == 3:  # uninstalled: every device answers UNREGISTERED
            for device in ("phone", "tablet"):
                fcm.script[f"tok-{user}-{device}"] = [("UNREGISTERED", None)]
        send(user, make_event("signup_completed", at=clock.now()))

    clock.advance(timedelta(minutes=5))
    for _ in range(2):  # every push delivered twice
        for body in queue.bodies:
            sender.process(body)
    jobs = {job.user_id: job for job in (PushJob.model_validate_json(b) for b in queue.bodies)}
    opened: list[IncomingEvent] = []
    opt_outs: list[tuple[str, IncomingEvent]] = []
    clock.advance(timedelta(minutes=5))
    for i, user in enumerate(users):
        if user not in jobs:
            continue
        if i % 3 == 0 and i % 4 != 3:  # an uninstalled app opens nothing
            event = make_event("push_opened", at=clock.now(), message_id=jobs[user].job_id)
            opened.append(event)
            for _ in range(2):
                send(user, event)
            send(user, make_event("push_opened", at=clock.now(), message_id=jobs[user].job_id))
        if i % 4 == 1:
            event = make_event(OPT_OUT_EVENT, clock.now(), kind="category", category="marketing")
            opt_outs.append((user, event))
            for _ in range(2):
                send(user, event)
    for batch in events.sent:  # the uninstalls push_sender published, each delivered twice
        for _ in range(2):
            send(batch.user_id, *batch.events)
        opt_outs += [(batch.user_id, e) for e in batch.events]

    # --- the recount, from the delivery log and the events -----------------------------------
    items = aws.ddb.scan(TableName="DeliveryLogTable")["Items"]
    deliveries = [d for i in items if "body" in i for d in records_of(i)]
    by_job = {job.job_id: job for job in jobs.values()}
    records: list[EngagementRecord] = []
    received: dict[str, list[ReceivedMessage]] = {}
    now = to_epoch(clock.now())
    for d in deliveries:
        job = by_job[d.job_id]
        campaign_id, variant = campaign_variant(job) or ("", "")
        if d.outcome == "sent":
            records.append(
                EngagementRecord(
                    f"delivered:{d.job_id}",
                    "delivered",
                    d.at,
                    campaign_id,
                    variant,
                    "",
                    "marketing",
                )
            )
            received.setdefault(d.user_id, []).append(
                ReceivedMessage(d.job_id, campaign_id, variant, "", "marketing", d.at)
            )
        elif d.outcome == "failed":
            records.append(
                EngagementRecord(
                    f"{d.job_id}#{d.device_id}",
                    "failed",
                    d.at,
                    campaign_id,
                    variant,
                    "",
                    "marketing",
                    d.reason,
                )
            )
    for event in opened:
        job = by_job[str(event.properties["message_id"])]
        _, variant = campaign_variant(job) or ("", "")
        records.append(
            EngagementRecord(
                f"opened:{job.job_id}", "opened", now, "welcome", variant, "", "marketing"
            )
        )
    counted: set[tuple[str, str]] = set()  # one opt-out per user and message (or kind) counts
    for user, event in opt_outs:
        kind: Any = event.properties["kind"]
        category: Any = event.properties.get("category")
        opt_out = OptOut(event.event_id, kind, to_epoch(event.timestamp), category)
        attribution = attribute_opt_out(
            opt_out, received.get(user, []), config.analytics.attribution_window_seconds
        )
        if (user, blame_key(attribution)[0]) in counted:
            continue
        counted.add((user, blame_key(attribution)[0]))
        blamed = attribution.record()
        records.append(
            EngagementRecord(
                blamed.id,
                "opt_out",
                now,
                blamed.campaign,
                blamed.variant,
                "",
                blamed.category,
                blamed.reason,
            )
        )
    expected = {
        cell: {k: v for k, v in counts.items() if k.split(".")[0] in KINDS}
        for cell, counts in recount(records).nonzero().items()
    }

    # --- the stored counters -------------------------------------------------------------------
    stored: dict[Cell, Counter[str]] = {}
    day = expected and next(iter(expected)).day
    for campaign_id in ("welcome", UNATTRIBUTED):
        name = counter_name(campaign_id, now)
        fields = profiles.counters([name]).get(name, {})
        category = "marketing" if campaign_id == "welcome" else ""
        merge(stored, cells_of(campaign_id, str(day), fields, {}, category))
    actual = {
        cell: {k: v for k, v in counts.items() if k.split(".")[0] in KINDS and v}
        for cell, counts in stored.items()
    }
    actual = {cell: counts for cell, counts in actual.items() if counts}
    assert actual == expected
    totals = Counter[str]()
    for counts in actual.values():
        totals.update(counts)
    # the scenario covers every rule: sends to 2 devices delivered once, uninstalls, opens
    assert totals["delivered"] == 9 and totals["failed.UNREGISTERED"] == 6  # 3 users x 2
    assert totals["opened"] == 3 and totals["opt_out.category"] == 3
    # one per user: a user's two installs gone for the same message are one opt-out
    assert totals["opt_out.uninstall"] == 3
