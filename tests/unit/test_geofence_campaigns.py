"""Geofence triggers in the pipeline: a commuter walks into a station and gets one push."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from nudge.clock import ManualClock
from nudge.domain.config import EngagementConfig
from nudge.domain.geofencing import build_index, parse_geojson
from nudge.models.campaign import Campaign, CampaignSet
from nudge.models.device import Preferences
from nudge.models.events import IncomingEvent, Location, QueuedBatch
from nudge.models.push import PushJob
from nudge.services.campaigns.runner import CampaignRunner
from nudge.services.geofencing.tracker import GeoTracker
from nudge.services.pipeline.processing import EventProcessingService
from nudge.services.pipeline.scheduler import SchedulerService
from tests.fakes.memory import (
    InMemoryCampaignCatalog,
    InMemoryHistoryStore,
    InMemoryProfileStore,
    InMemoryQueue,
)

STATION = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "id": "asd",
            "properties": {
                "name": "Amsterdam Centraal",
                "tags": ["train_station"],
                "radius_m": 150,
            },
            "geometry": {"type": "Point", "coordinates": [4.9003, 52.3791]},
        }
    ],
}
CAMPAIGN = {
    "id": "station-tips",
    "name": "Live departures",
    "status": "active",
    "trigger": {"geofence": {"tags": ["train_station"], "on": "dwell", "dwell_minutes": 2}},
    "variants": [
        {"id": "a", "title": "{{ station.name }}: next trains", "body": "Tap for departures"}
    ],
    "delivery": {"cooldown": "12h", "ttl": "15m"},
}


class Consents:
    """Preferences as stored (location consent is per user)."""

    def __init__(self, location: bool) -> None:
        self.location = location

    def preferences(self, user_id: str) -> Preferences:
        categories: Any = {"marketing": True, "location": self.location}
        return Preferences(user_id=user_id, categories=categories)


class Fences:
    def __init__(self) -> None:
        self.index = build_index(
            [parse_geojson(__import__("json").dumps(STATION), source="t", set_id="nl")]
        )

    def current_index(self) -> Any:
        return self.index


def pipeline(
    clock: ManualClock, location_consent: bool = True
) -> tuple[EventProcessingService, SchedulerService, InMemoryQueue]:
    config = EngagementConfig()
    profiles, history, queue = InMemoryProfileStore(), InMemoryHistoryStore(), InMemoryQueue()
    consents = Consents(location_consent)
    campaign = Campaign.model_validate(CAMPAIGN)
    runner = CampaignRunner(
        InMemoryCampaignCatalog(CampaignSet(campaigns={campaign.id: campaign})),
        consents,
        queue,
        config,
    )  # type: ignore[arg-type]
    geo = GeoTracker(Fences(), consents, config)  # type: ignore[arg-type]
    return (
        EventProcessingService(profiles, history, config, clock, campaigns=runner, geo=geo),
        SchedulerService(profiles, history, config, clock, campaigns=runner, geo=geo),
        queue,
    )


def walk(
    processor: EventProcessingService, clock: ManualClock, user: str, lat: float, lng: float, n: int
) -> None:
    event = IncomingEvent(
        event_id=f"{user}-{n}",
        name="location_update",
        timestamp=clock.now(),
        location=Location(lat=lat, lng=lng, accuracy_m=15),
    )
    body = QueuedBatch(user_id=user, received_at=clock.now(), events=[event]).model_dump_json()
    assert processor.process([(f"m-{user}-{n}", body)]).failures == {}


def test_a_commuter_who_stays_gets_exactly_one_push_even_passing_twice(clock: ManualClock) -> None:
    processor, _, queue = pipeline(clock)
    walk(processor, clock, "kim", 52.3900, 4.9000, 1)  # 1.2 km away
    for n in range(2, 6):  # walks in and stays four minutes, reporting every minute
        clock.advance(timedelta(minutes=1))
        walk(processor, clock, "kim", 52.3792, 4.9004, n)
    jobs = [PushJob.model_validate_json(b) for b in queue.bodies]
    assert len(jobs) == 1
    assert jobs[0].data["station"]["name"] == "Amsterdam Centraal"
    assert jobs[0].template.id == "station-tips.a"
    clock.advance(timedelta(minutes=10))
    walk(processor, clock, "kim", 52.3900, 4.9000, 6)  # leaves
    clock.advance(timedelta(hours=2))
    for n in range(7, 11):  # back the same day: the cooldown holds
        clock.advance(timedelta(minutes=1))
        walk(processor, clock, "kim", 52.3792, 4.9004, n)
    assert len(queue.bodies) == 1


def test_dwell_fires_from_the_scheduler_when_the_phone_goes_quiet(clock: ManualClock) -> None:
    processor, scheduler, queue = pipeline(clock)
    walk(processor, clock, "lee", 52.3792, 4.9004, 1)  # enters, then says nothing more
    assert queue.bodies == []
    for _ in range(3):
        clock.advance(timedelta(minutes=15))
        scheduler.run()
    assert len(queue.bodies) == 1


def test_no_location_consent_no_tracking_no_push(clock: ManualClock) -> None:
    processor, _, queue = pipeline(clock, location_consent=False)
    for n in range(5):
        walk(processor, clock, "max", 52.3792, 4.9004, n)
        clock.advance(timedelta(minutes=1))
    profile = processor.profiles.get("max")
    assert queue.bodies == [] and profile is not None
    assert profile.geo is None and profile.location is None


def test_duplicate_and_reordered_location_events_change_nothing(clock: ManualClock) -> None:
    processor, scheduler, queue = pipeline(clock)
    events = []
    for n in range(5):
        events.append(
            IncomingEvent(
                event_id=f"ann-{n}",
                name="location_update",
                timestamp=clock.now(),
                location=Location(lat=52.3792, lng=4.9004, accuracy_m=10),
            )
        )
        clock.advance(timedelta(minutes=1))
    shuffled = [events[3], events[0], events[4], events[1], events[2], events[0], events[3]]
    for index, event in enumerate(shuffled):
        body = QueuedBatch(user_id="ann", received_at=clock.now(), events=[event]).model_dump_json()
        assert processor.process([(f"m{index}", body)]).failures == {}
    # late, older fixes never move the stay's start: at most the in-order answer, and the
    # dwell the late order did not prove is found by the scheduler, once
    assert len(queue.bodies) <= 1
    for _ in range(2):
        clock.advance(timedelta(minutes=15))
        scheduler.run()
    assert len(queue.bodies) == 1
