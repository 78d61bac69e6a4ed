"""Campaigns in the pipeline (in-memory fakes): every trigger kind, exactly one send per
occurrence under duplicates and redelivery, conversions, global caps across campaigns."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from nudge.clock import ManualClock
from nudge.domain.config import EngagementConfig
from nudge.models.campaign import Campaign, CampaignSet
from nudge.models.device import Preferences
from nudge.models.events import IncomingEvent, QueuedBatch
from nudge.models.push import PushJob
from nudge.services.campaigns.runner import CampaignRunner, counter_name
from nudge.services.pipeline.processing import EventProcessingService
from nudge.services.pipeline.scheduler import SchedulerService
from tests.conftest import make_event
from tests.fakes.devices import InMemoryDeviceStore
from tests.fakes.memory import (
    InMemoryCampaignCatalog,
    InMemoryHistoryStore,
    InMemoryProfileStore,
    InMemoryQueue,
)


def campaign(text: str, **overrides: Any) -> Campaign:
    data = yaml.safe_load(text)
    data.setdefault("status", "active")
    data.setdefault("name", data["id"])
    data.setdefault(
        "variants",
        [{"id": "a", "title": "Hi", "body": "Hello {{ user.first_name | default('there') }}"}],
    )
    data.update(overrides)
    return Campaign.model_validate(data)


class Pipeline:
    def __init__(self, clock: ManualClock, *campaigns: Campaign) -> None:
        self.clock = clock
        self.config = EngagementConfig()
        self.profiles, self.history = InMemoryProfileStore(), InMemoryHistoryStore()
        self.devices, self.queue = InMemoryDeviceStore(), InMemoryQueue()
        self.catalog = InMemoryCampaignCatalog(CampaignSet(campaigns={c.id: c for c in campaigns}))
        self.runner = CampaignRunner(self.catalog, self.devices, self.queue, self.config)
        self.processor = EventProcessingService(
            self.profiles, self.history, self.config, clock, campaigns=self.runner
        )
        self.scheduler = SchedulerService(
            self.profiles, self.history, self.config, clock, campaigns=self.runner
        )
        self.messages = 0

    def consent(self, user: str, marketing: bool = True) -> None:
        prefs = Preferences(user_id=user, categories={"marketing": marketing})
        assert self.devices.save_preferences(prefs, self.devices.preferences(user))

    def send(self, user: str, *events: IncomingEvent) -> None:
        self.messages += 1
        body = QueuedBatch(user_id=user, received_at=self.clock.now(), events=list(events))
        outcome = self.processor.process([(f"m{self.messages}", body.model_dump_json())])
        assert outcome.failures == {}

    def act(self, user: str, name: str = "session_start", **props: Any) -> IncomingEvent:
        event = make_event(name, at=self.clock.now(), **props)
        self.send(user, event)
        return event

    def tick(self, hours: float, step_minutes: int = 15) -> None:
        end = self.clock.now() + timedelta(hours=hours)
        while self.clock.now() < end:
            self.clock.advance(timedelta(minutes=step_minutes))
            self.scheduler.run()

    def jobs(self, user: str | None = None) -> list[PushJob]:
        jobs = [PushJob.model_validate_json(b) for b in self.queue.bodies]
        return [j for j in jobs if user is None or j.user_id == user]

    def counts(self, campaign_id: str, at: datetime | None = None) -> dict[str, int]:
        day = int((at or self.clock.now()).timestamp())
        return self.profiles.counters([counter_name(campaign_id, day)]).get(
            counter_name(campaign_id, day), {}
        )


WELCOME = """
id: welcome
category: marketing
trigger: {event: {name: signup_completed}}
delivery: {cooldown: 1h}
goal: {event: purchase, within: 2d}
"""


def test_event_trigger_sends_once_even_when_the_event_is_delivered_twice(
    clock: ManualClock,
) -> None:
    p = Pipeline(clock, campaign(WELCOME))
    p.consent("ann")
    event = p.act("ann", "signup_completed")
    p.send("ann", event)  # the same event again (client retry / SQS redelivery)
    p.send("ann", event, make_event("session_start", at=clock.now()))
    jobs = p.jobs("ann")
    assert len(jobs) == 1
    assert jobs[0].template.id == "welcome.a"
    assert jobs[0].dedupe_key.startswith("c:welcome:e:")
    assert p.counts("welcome") == {"targeted": 1, "sent.a": 1}


def test_no_consent_is_a_recorded_suppression_and_no_push(clock: ManualClock) -> None:
    p = Pipeline(clock, campaign(WELCOME))
    p.act("bob", "signup_completed")  # marketing is opt-in by default
    assert p.jobs() == []
    assert p.counts("welcome") == {"targeted": 1, "suppressed.consent": 1}


def test_property_filters_select_events(clock: ManualClock) -> None:
    big = campaign(
        "id: big\ntrigger: {event: {name: purchase, where: {amount: {gte: 100}, currency: [EUR]}}}"
    )
    p = Pipeline(clock, big)
    p.consent("ann")
    p.act("ann", "purchase", amount=20, currency="EUR")
    p.act("ann", "purchase", amount=150, currency="USD")
    assert p.jobs() == []
    p.act("ann", "purchase", amount=150, currency="EUR")
    assert len(p.jobs()) == 1


CART = """
id: cart-reminder
trigger: {event: {name: cart_updated, delay: 30m, unless: [checkout_completed]}}
delivery: {cooldown: 1h}
"""


def test_delayed_trigger_fires_after_the_delay_unless_the_goal_happened(clock: ManualClock) -> None:
    p = Pipeline(clock, campaign(CART))
    for user in ("ann", "bob"):
        p.consent(user)
        p.act(user, "cart_updated")
    assert p.jobs() == []
    clock.advance(timedelta(minutes=10))
    p.act("bob", "checkout_completed")
    p.tick(hours=0.5)
    assert [j.user_id for j in p.jobs()] == ["ann"]
    p.tick(hours=5)
    assert len(p.jobs()) == 1
    assert p.counts("cart-reminder") == {"targeted": 1, "sent.a": 1, "suppressed.unless": 1}


def test_inactivity_trigger_fires_once_per_spell(clock: ManualClock) -> None:
    winback = campaign(
        "id: winback\ntrigger: {inactivity: {days: 7}}\naudience: {lifecycle: [new, at_risk]}"
    )
    p = Pipeline(clock, winback)
    p.consent("ann")
    p.act("ann")
    p.tick(hours=24 * 10, step_minutes=60)
    assert len(p.jobs("ann")) == 1
    p.act("ann")  # comes back, then lapses again: a new spell, a new send
    p.tick(hours=24 * 8, step_minutes=60)
    assert len(p.jobs("ann")) == 2


def test_lifecycle_transition_trigger(clock: ManualClock) -> None:
    at_risk = campaign("id: at-risk\ntrigger: {lifecycle: {to: at_risk}}")
    p = Pipeline(clock, at_risk)
    p.consent("ann")
    p.act("ann")
    p.tick(hours=24 * 9, step_minutes=60)
    jobs = p.jobs("ann")
    assert len(jobs) == 1 and jobs[0].data["event"]["to"] == "at_risk"


WEEKLY = """
id: weekly
trigger: {schedule: {cron: "0 9 * * MON", local_time: true}}
audience: {lifecycle: [new, active, loyal, at_risk]}
delivery: {cooldown: 1d, ttl: 6h}
"""


@pytest.mark.parametrize(
    ("zone", "utc_hour"), [("Europe/Amsterdam", 8), ("America/New_York", 14), ("Asia/Tokyo", 0)]
)
def test_schedule_fires_at_9_local_in_each_users_zone(
    clock: ManualClock, zone: str, utc_hour: int
) -> None:
    p = Pipeline(clock, campaign(WEEKLY))  # START is Monday 2 March 2026, 09:00 UTC
    p.consent("ann")
    p.act("ann", "user_attributes", timezone=zone)
    p.tick(hours=24 * 7, step_minutes=15)
    jobs = p.jobs("ann")
    assert len(jobs) == 1  # the first Monday 09:00 local still ahead, once
    assert jobs[0].created_at.hour == utc_hour
    local = jobs[0].created_at.astimezone(ZoneInfo(zone))
    assert (local.weekday(), local.hour, local.minute) == (0, 9, 0)
    p.tick(hours=24 * 7, step_minutes=60)
    assert len(p.jobs("ann")) == 2  # and again a week later (across the US DST change)


def test_global_caps_hold_across_campaigns_and_priority_wins_the_slot(clock: ManualClock) -> None:
    cheap = [
        campaign(f"id: promo-{i}\ntrigger: {{event: {{name: browse}}}}\ndelivery: {{cooldown: 0s}}")
        for i in range(3)
    ]
    vip = campaign(
        "id: vip\npriority: 50\ntrigger: {event: {name: browse}}\ndelivery: {cooldown: 0s}"
    )
    p = Pipeline(clock, *cheap, vip)
    p.consent("ann")
    for _ in range(3):
        p.act("ann", "browse")
        clock.advance(timedelta(hours=1))
    jobs = p.jobs("ann")
    assert len(jobs) == 3  # marketing cap: 3 per day, across all campaigns
    assert jobs[0].template.id == "vip.a"  # the first browse: vip takes the slot first
    assert (
        p.counts("promo-0").get("suppressed.outranked", 0)
        + p.counts("promo-0").get("suppressed.global_cap", 0)
        >= 1
    )
    clock.advance(timedelta(days=1))
    p.act("ann", "browse")
    assert len(p.jobs("ann")) == 6  # a new day: three more


def test_conversions_are_counted_for_sends_and_for_the_holdout(clock: ManualClock) -> None:
    test = campaign(WELCOME, holdout_pct=50)
    p = Pipeline(clock, test)
    users = [f"u{i}" for i in range(40)]
    for user in users:
        p.consent(user)
        p.act(user, "signup_completed")
    clock.advance(timedelta(hours=5))
    for user in users:
        p.act(user, "purchase", amount=10)
    counts = p.counts("welcome", clock.now() - timedelta(hours=5))
    later = p.counts("welcome")
    assert counts["sent.a"] + counts["holdout"] == 40
    assert 5 < counts["holdout"] < 35
    converted = {k: v for k, v in {**counts, **later}.items() if k.startswith("converted")}
    assert converted == {"converted.a": counts["sent.a"], "converted.holdout": counts["holdout"]}


def test_paused_campaign_drops_its_delayed_sends(clock: ManualClock) -> None:
    cart = campaign(CART)
    p = Pipeline(clock, cart)
    p.consent("ann")
    p.act("ann", "cart_updated")
    p.catalog.published = CampaignSet(
        campaigns={cart.id: cart.model_copy(update={"status": "paused"})}
    )
    p.tick(hours=2)
    assert p.jobs() == []


def test_a_crash_before_queueing_is_repaired_by_the_redelivery(clock: ManualClock) -> None:
    p = Pipeline(clock, campaign(WELCOME))
    p.consent("ann")
    event = make_event("signup_completed", at=clock.now())

    class Down(InMemoryQueue):
        def enqueue(self, body: str) -> None:
            raise ConnectionError("SQS unavailable")

    healthy, p.runner.pushes = p.runner.pushes, Down()
    body = QueuedBatch(user_id="ann", received_at=clock.now(), events=[event]).model_dump_json()
    assert p.processor.process([("m1", body)]).failures  # profile written, push not queued
    p.runner.pushes = healthy
    clock.advance(timedelta(minutes=2))
    assert p.processor.process([("m1", body)]).failures == {}  # SQS redelivers the message
    assert len(p.jobs("ann")) == 1
    assert json.loads(p.queue.bodies[0])["dedupe_key"].startswith("c:welcome:")


def test_campaign_report_sums_days_and_explains_suppressions(clock: ManualClock) -> None:
    from nudge.services.engagement.reports import ReportsService

    p = Pipeline(clock, campaign(WELCOME, holdout_pct=30))
    users = [f"u{i}" for i in range(30)]
    for user in users[:20]:
        p.consent(user)
    for user in users:
        p.act(user, "signup_completed")
    clock.advance(timedelta(days=1))
    for user in users:
        p.act(user, "purchase", amount=5)
    report = ReportsService(p.profiles, clock, p.catalog).campaigns(days=7)
    row = report["campaigns"]["welcome"]
    assert row["targeted"] == 30
    assert row["suppressed"] == {"consent": 10}
    assert row["sent"] + row["holdout"] == 20
    assert row["variants"]["a"]["converted"] == row["sent"]
    assert row["variants"]["a"]["conversion_pct"] == 100.0
    assert row["holdout_converted"] == row["holdout"]
    empty = ReportsService(p.profiles, clock, p.catalog).campaigns(days=1)
    assert empty["campaigns"]["welcome"]["variants"] == {}  # no sends today: no rates, no NaN
