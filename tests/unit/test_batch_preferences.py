"""The event processor reads a batch's preferences once, for campaigns and geofences alike."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from nudge.clock import ManualClock
from nudge.domain.config import EngagementConfig
from nudge.models.campaign import Campaign, CampaignSet
from nudge.models.device import Preferences
from nudge.models.events import IncomingEvent, Location, QueuedBatch
from nudge.models.push import PushJob
from nudge.services.campaigns.runner import CampaignRunner
from nudge.services.geofencing.tracker import GeoTracker
from nudge.services.messaging.preferences import BatchPreferences
from nudge.services.pipeline.processing import EventProcessingService
from tests.fakes.devices import InMemoryDeviceStore
from tests.fakes.memory import (
    InMemoryCampaignCatalog,
    InMemoryHistoryStore,
    InMemoryProfileStore,
    InMemoryQueue,
)
from tests.unit.test_geofence_campaigns import CAMPAIGN, Fences


class CountingStore(InMemoryDeviceStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: Counter[str] = Counter()

    def preferences(self, user_id: str) -> Preferences | None:
        self.reads["one"] += 1
        return super().preferences(user_id)

    def preferences_many(self, user_ids: Sequence[str]) -> dict[str, Preferences]:
        self.reads["many"] += 1
        return super().preferences_many(user_ids)


def consent(store: InMemoryDeviceStore, user: str, **categories: bool) -> None:
    current = InMemoryDeviceStore.preferences(store, user)  # not counted
    version = current.version + 1 if current else 1
    changed = Preferences(user_id=user, categories=categories, version=version)  # type: ignore[arg-type]
    assert store.save_preferences(changed, current)


def test_the_first_need_reads_the_whole_batch_once() -> None:
    store = CountingStore()
    consent(store, "ann", location=True)
    consent(store, "bob", location=False)
    reader = BatchPreferences(store)
    reader.expect(["ann", "bob", "cy"])
    assert reader.preferences("bob") == store.prefs["bob"]
    ann = reader.preferences("ann")
    assert ann is not None and ann.categories["location"] is True
    assert reader.preferences("cy") is None  # never set any: the app's defaults apply
    assert store.reads == {"many": 1}
    assert reader.preferences("dee") is None  # not in the batch: read alone
    assert store.reads == {"many": 1, "one": 1}


def test_a_new_batch_sees_changes_made_since() -> None:
    store = CountingStore()
    consent(store, "ann", location=True)
    reader = BatchPreferences(store)
    reader.expect(["ann"])
    assert reader.preferences("ann").categories["location"] is True  # type: ignore[union-attr]
    consent(store, "ann", location=False)  # turned off in the app between two batches
    reader.expect(["ann"])
    assert reader.preferences("ann").categories["location"] is False  # type: ignore[union-attr]
    assert store.reads == {"many": 2}


def test_a_batch_of_commuters_needs_one_preferences_read(clock: ManualClock) -> None:
    store = CountingStore()
    users = ["kim", "lee", "max"]
    for user in users:
        consent(store, user, location=user != "max", marketing=True)
    config = EngagementConfig()
    reader = BatchPreferences(store)
    campaign = Campaign.model_validate(CAMPAIGN)
    queue = InMemoryQueue()
    runner = CampaignRunner(
        InMemoryCampaignCatalog(CampaignSet(campaigns={campaign.id: campaign})),
        reader,
        queue,
        config,
    )  # type: ignore[arg-type]
    processor = EventProcessingService(
        InMemoryProfileStore(),
        InMemoryHistoryStore(),
        config,
        clock,
        campaigns=runner,
        geo=GeoTracker(Fences(), reader, config),  # type: ignore[arg-type]
        preferences=reader,
    )

    def batch(n: int) -> list[tuple[str, str]]:
        messages = []
        for user in users:
            fix = Location(lat=52.3792, lng=4.9004, accuracy_m=15)  # inside the station
            event = IncomingEvent(
                event_id=f"{user}-{n}", name="location_update", timestamp=clock.now(), location=fix
            )
            body = QueuedBatch(user_id=user, received_at=clock.now(), events=[event])
            messages.append((f"m-{user}-{n}", body.model_dump_json()))
        return messages

    for n in range(4):  # in the station for three minutes: past the campaign's dwell
        assert processor.process(batch(n)).failures == {}
        clock.advance(timedelta(minutes=1))
    assert store.reads == {"many": 4}  # not a GetItem per user, nor per reader
    pushed = sorted(PushJob.model_validate_json(body).user_id for body in queue.bodies)
    assert pushed == ["kim", "lee"]  # max never allowed location
