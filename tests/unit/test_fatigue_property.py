"""The one fatigue budget as a property: whatever interleaving of campaign sends, broadcast
jobs, API messages and survey prompts reaches a few users across days and time zones, no user
gets more interruptions of a category per local day, or per the last 7 local days, than the
caps allow (rolling 24 h / 7 d when their zone is unknown); transactional ones all go.

Everything runs through the real services over the fakes: the event processor (campaigns and
survey prompts), the campaign runner's flush, and push_sender, all booking into one ledger.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nudge.clock import DAY, ManualClock
from nudge.domain.config import CategoryCaps, ConsentDefaults, EngagementConfig
from nudge.domain.messaging.delivery_time import resolve_zone
from nudge.domain.nps.eligibility import SurveyFatigue
from nudge.models.campaign import Campaign, CampaignSet
from nudge.models.device import Device, Preferences
from nudge.models.events import QueuedBatch
from nudge.models.profile import Profile
from nudge.models.push import PushJob
from nudge.models.survey import SurveyConfig
from nudge.services.campaigns.runner import CampaignRunner
from nudge.services.messaging.push import PushService
from nudge.services.nps.surveys import SurveyService
from nudge.services.pipeline.processing import EventProcessingService
from tests.conftest import make_event
from tests.fakes.delivery_log import FakeFcm, InMemoryDeliveryLog
from tests.fakes.devices import InMemoryDeviceStore
from tests.fakes.fatigue import InMemoryFatigueLedger
from tests.fakes.memory import (
    InMemoryCampaignCatalog,
    InMemoryHistoryStore,
    InMemoryProfileStore,
    InMemoryQueue,
    InMemorySurveyCatalog,
    InMemorySurveyStore,
)

START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
ZONES = {"tokyo": "Asia/Tokyo", "la": "America/Los_Angeles", "nowhere": None}
CAPS = {
    "marketing": CategoryCaps(per_day=2, per_week=5),
    "product_updates": CategoryCaps(per_day=1, per_week=3),
}
CATEGORIES = ("marketing", "product_updates", "transactional")
PATHS = ("campaign", "broadcast", "api", "survey")


def campaign(category: str) -> Campaign:
    return Campaign.model_validate(
        {
            "id": f"c-{category}",
            "name": category,
            "status": "active",
            "category": category,
            "trigger": {"event": {"name": f"trigger_{category}"}},
            "variants": [{"id": "a", "title": "Hi", "body": "B"}],
            "holdout_pct": 20,  # holdouts' would-be sends count too, nothing reaches them
            "delivery": {"cooldown": "0s", "max_per_user": 1000},
        }
    )


def survey(category: str) -> SurveyConfig:
    return SurveyConfig.model_validate(
        {
            "id": f"nps-{category.replace('_', '-')}",
            "status": "active",
            "trigger": {"event": f"done_{category}"},
            "category": category,
            "prompt_ttl": "1m",
            "max_prompts_per_user": 1000,
            "recontact_after_days": 0,
            "dismiss_cooldown_days": 0,
            "questions": {"score": "How likely are you to recommend us?"},
        }
    )


@dataclass
class World:
    config: EngagementConfig
    clock: ManualClock = field(default_factory=lambda: ManualClock(START))
    ledger: InMemoryFatigueLedger = field(init=False)
    # (user, category, at) of every message sent and every prompt created
    reached: list[tuple[str, str, int]] = field(default_factory=list)
    transactional: list[str] = field(default_factory=list)  # their outcomes

    def __post_init__(self) -> None:
        log = InMemoryDeliveryLog()
        self.ledger = InMemoryFatigueLedger(log)
        self.devices, self.fcm, self.queue = InMemoryDeviceStore(), FakeFcm(), InMemoryQueue()
        self.pushes = PushService(
            self.devices, log, self.fcm, self.config, self.clock, fatigue=self.ledger
        )
        published = CampaignSet(campaigns={c.id: c for c in map(campaign, CATEGORIES[:2])})
        self.runner = CampaignRunner(
            InMemoryCampaignCatalog(published),
            self.devices,
            self.queue,
            self.config,
            fatigue=self.ledger,
        )
        surveys = {s.id: s for s in map(survey, CATEGORIES[:2])}
        world = self

        class Prompts(SurveyService):
            def on_events(self, profile: Profile, events: Any, now: int) -> list[Any]:
                created = super().on_events(profile, events, now)
                for prompt in created:
                    category = surveys[prompt.survey_id].category
                    world.reached.append((profile.user_id, category, now))
                return created

        self.surveys = Prompts(
            InMemorySurveyStore(),
            InMemorySurveyCatalog(surveys),
            self.clock,
            SurveyFatigue(min_days_between_surveys=0),
            budget=self.ledger,
            caps=self.config.caps,
            zone_of=lambda profile: ZONES[profile.user_id],
        )
        self.processor = EventProcessingService(
            InMemoryProfileStore(),
            InMemoryHistoryStore(),
            self.config,
            self.clock,
            campaigns=self.runner,
            surveys=self.surveys,
        )
        for user, zone in ZONES.items():
            self.devices.put_device(
                Device(
                    user_id=user,
                    device_id="phone",
                    token=f"tok-{user}",
                    platform="ios",
                    locale="en",  # names no country: no zone from it
                    timezone=zone,
                    created_at=int(START.timestamp()),
                    updated_at=int(START.timestamp()),
                )
            )
            categories = {"marketing": True, "product_updates": True}
            prefs = Preferences(user_id=user, categories=categories, timezone=zone)
            self.devices.save_preferences(prefs, None)

    def event(self, user: str, name: str, n: int) -> None:
        events = [make_event(name, at=self.clock.now(), event_id=f"e{n}")]
        zone = ZONES[user]
        if zone:  # the SDK reports the zone as a profile fact too
            events.insert(0, make_event("session_start", at=self.clock.now(), timezone=zone))
        batch = QueuedBatch(user_id=user, received_at=self.clock.now(), events=events)
        assert self.processor.process([(f"m{n}", batch.model_dump_json())]).failures == {}
        while self.queue.bodies:  # the campaign sends it flushed
            self.push(self.queue.bodies.pop(0))

    def push(self, body: str, redeliver: bool = False) -> None:
        for receive_count in (1, 2) if redeliver else (1,):
            result = self.pushes.process(body, receive_count)
            job = PushJob.model_validate_json(body)
            for delivery in result.deliveries:
                if delivery.outcome == "sent":
                    self.reached.append((job.user_id, job.template.category, delivery.at))
                if job.template.category == "transactional":
                    self.transactional.append(delivery.outcome)

    def message(self, user: str, path: str, category: str, n: int, redeliver: bool) -> None:
        source = f"broadcast:b{n}" if path == "broadcast" else "admin"
        job = PushJob.model_validate(
            {
                "job_id": f"job-{n}",
                "user_id": user,
                "dedupe_key": f"{path}-{n}",
                "created_at": self.clock.now().isoformat(),
                "template": {
                    "id": "t",
                    "category": category,
                    "text": {"en": {"title": "T", "body": "B"}},
                },
                "source": source,
            }
        )
        self.push(job.model_dump_json(), redeliver)


action = st.tuples(
    st.integers(0, 9 * 24 * 60 - 1),  # the minute, over 9 days
    st.sampled_from(sorted(ZONES)),
    st.sampled_from(PATHS),
    st.sampled_from(CATEGORIES),
    st.booleans(),  # a push job delivered twice (SQS at least once)
)


def local_date(at: int, zone: str) -> date:
    return datetime.fromtimestamp(at, ZoneInfo(zone)).date()


def check_caps(reached: list[tuple[str, str, int]], config: EngagementConfig) -> None:
    by_user: dict[tuple[str, str], list[int]] = defaultdict(list)
    for user, category, at in reached:
        by_user[(user, category)].append(at)
    for (user, category), moments in by_user.items():
        caps = config.caps.get(category)
        if caps is None:
            continue
        assert caps.per_day is not None and caps.per_week is not None
        zone, _ = resolve_zone(ZONES[user], [], [], config.consent.default_timezone)
        moments.sort()
        if zone is None:  # rolling windows: every 24 h and every 7 days
            for at in moments:
                assert sum(at - DAY < m <= at for m in moments) <= caps.per_day
                assert sum(at - 7 * DAY < m <= at for m in moments) <= caps.per_week
            continue
        days = defaultdict(int)
        for at in moments:
            days[local_date(at, zone)] += 1
        assert max(days.values()) <= caps.per_day, (user, category, dict(days))
        for day in days:
            week = sum(days.get(day - timedelta(days=back), 0) for back in range(7))
            assert week <= caps.per_week, (user, category, day, dict(days))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(action, min_size=1, max_size=60))
def test_no_interleaving_of_paths_exceeds_a_users_caps(actions: list[Any]) -> None:
    config = EngagementConfig(
        caps=CAPS, consent=ConsentDefaults(quiet_hours_start=None, quiet_hours_end=None)
    )
    world = World(config)
    for n, (minute, user, path, category, redeliver) in enumerate(sorted(actions)):
        world.clock.set(START + timedelta(minutes=minute, seconds=n))
        if path in ("campaign", "survey") and category == "transactional":
            path = "api"  # neither campaigns nor surveys of that category here
        if path == "campaign":
            world.event(user, f"trigger_{category}", n)
        elif path == "survey":
            world.event(user, f"done_{category}", n)
        else:
            world.message(user, path, category, n, redeliver)
    check_caps(world.reached, config)
    assert set(world.transactional) <= {"sent"}  # never refused, never capped


def test_the_property_sees_a_violation_without_the_budget() -> None:
    """The check itself: the same paths without a ledger do exceed the caps."""
    config = EngagementConfig(
        caps=CAPS, consent=ConsentDefaults(quiet_hours_start=None, quiet_hours_end=None)
    )
    world = World(config)
    world.pushes.fatigue = None
    for n in range(4):
        world.clock.set(START + timedelta(hours=1, minutes=n))
        world.message("tokyo", "broadcast", "marketing", n, redeliver=False)
    try:
        check_caps(world.reached, config)
    except AssertionError:
        return
    raise AssertionError("four marketing broadcasts in one hour passed a cap of two a day")
