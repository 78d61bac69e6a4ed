"""event_processor logic over in-memory fakes: exactly-once effects under at-least-once delivery."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest

from nudge.clock import ManualClock, to_epoch
from nudge.domain.config import EngagementConfig
from nudge.domain.profiles.aggregates import RECENT_WINDOW_SECONDS
from nudge.models.events import IncomingEvent, QueuedBatch
from nudge.models.profile import Profile, Stage
from nudge.services.pipeline.processing import EventProcessingService, PoisonMessage
from tests.conftest import START, make_event
from tests.fakes.memory import InMemoryHistoryStore, InMemoryProfileStore


def message(user: str, events: list[IncomingEvent], received: datetime = START) -> str:
    return QueuedBatch(user_id=user, received_at=received, events=events).model_dump_json()


@pytest.fixture
def service(clock: ManualClock) -> EventProcessingService:
    return EventProcessingService(
        InMemoryProfileStore(), InMemoryHistoryStore(), EngagementConfig(), clock
    )


def stored(service: EventProcessingService, user: str) -> Profile:
    profile = service.profiles.get(user)
    assert profile is not None
    return profile


def test_events_are_applied_and_recorded(service: EventProcessingService) -> None:
    events = [make_event("session_start"), make_event("purchase", amount=9.5)]
    outcome = service.process([("m1", message("ann", events))])
    assert outcome.failures == {}
    assert outcome.applied_events == 2
    profile = stored(service, "ann")
    assert profile.stage == Stage.NEW
    assert profile.purchases.total == 9.5
    assert profile.version == 1
    assert len(service.history.list_user("ann")) == 3  # 2 events + the None->new transition


def test_redelivery_of_a_whole_message_changes_nothing(service: EventProcessingService) -> None:
    body = message("ann", [make_event("session_start"), make_event("screen_view")])
    service.process([("m1", body)])
    before = stored(service, "ann")
    outcome = service.process([("m1-again", body)])
    assert outcome.duplicate_events == 2 and outcome.applied_events == 0
    assert stored(service, "ann") == before  # not even rewritten


def test_duplicate_after_the_recent_window_is_caught_by_history(
    service: EventProcessingService, clock: ManualClock
) -> None:
    event = make_event("purchase", amount=3)
    service.process([("m1", message("ann", [event]))])
    clock.advance(timedelta(seconds=RECENT_WINDOW_SECONDS * 10))
    outcome = service.process([("m2", message("ann", [event, make_event("session_start")]))])
    assert outcome.duplicate_events == 1
    assert stored(service, "ann").purchases.count == 1


def test_same_event_in_two_messages_of_one_batch_counts_once(
    service: EventProcessingService,
) -> None:
    event = make_event("purchase", amount=3)
    outcome = service.process([("m1", message("ann", [event])), ("m2", message("ann", [event]))])
    assert outcome.failures == {}
    assert stored(service, "ann").purchases.count == 1


def test_crash_after_profile_write_before_history_is_recovered(
    service: EventProcessingService,
) -> None:
    events = [make_event("purchase", amount=4), make_event("session_start")]
    history = service.history
    original = history.append

    def crash(*args: object, **kwargs: object) -> None:
        raise ConnectionError("lost the connection after the profile write")

    history.append = crash  # type: ignore[method-assign]
    outcome = service.process([("m1", message("ann", events))])
    assert "m1" in outcome.failures
    history.append = original  # type: ignore[method-assign]
    retry = service.process([("m1", message("ann", events))])  # SQS redelivers
    assert retry.failures == {}
    profile = stored(service, "ann")
    assert profile.purchases.count == 1 and profile.counts["session_start"].total == 1
    assert len([r for r in history.list_user("ann") if r["type"] == "event"]) == 2


def test_poison_message_fails_alone(service: EventProcessingService) -> None:
    outcome = service.process(
        [
            ("good", message("ann", [make_event()])),
            ("not-json", "{oops"),
            ("wrong-shape", '{"user_id": "bob", "events": "nope"}'),
            ("empty", '{"user_id": "bob", "received_at": "2026-03-02T09:00:00Z", "events": []}'),
        ]
    )
    assert set(outcome.failures) == {"not-json", "wrong-shape", "empty"}
    assert all(isinstance(e, PoisonMessage) for e in outcome.failures.values())
    assert stored(service, "ann").counts["session_start"].total == 1


def test_store_failure_fails_only_that_users_messages(service: EventProcessingService) -> None:
    store = service.profiles
    assert isinstance(store, InMemoryProfileStore)
    store.fail_next_saves = 1
    outcome = service.process(
        [("a1", message("ann", [make_event()])), ("b1", message("bob", [make_event()]))]
    )
    assert set(outcome.failures) == {"a1"}
    assert service.profiles.get("bob") is not None
    assert service.profiles.get("ann") is None
    retry = service.process([("a1", message("ann", [make_event(event_id="again")]))])
    assert retry.failures == {}


def test_history_lookup_failure_fails_the_batch_without_writes(
    service: EventProcessingService,
) -> None:
    def down(keys: object) -> set[tuple[str, str]]:
        raise ConnectionError("DynamoDB unavailable")

    service.history.existing_event_ids = down  # type: ignore[method-assign]
    outcome = service.process([("a1", message("ann", [make_event()]))])
    assert set(outcome.failures) == {"a1"}
    assert service.profiles.get("ann") is None


def test_concurrent_writer_is_retried(service: EventProcessingService) -> None:
    store = service.profiles
    assert isinstance(store, InMemoryProfileStore)
    service.process([("m0", message("ann", [make_event(event_id="first")]))])
    batch_read, reads = store.get_latest, Counter[str]()

    def read_then_interfere(user_ids: Sequence[str]) -> dict[str, Profile]:
        profiles = batch_read(user_ids)
        if not reads:  # another invocation writes between the batch's read and its save
            store.items["ann"] = profiles["ann"].model_copy(update={"version": 2})
        reads["batch"] += 1
        return profiles

    def reread(user_id: str) -> Profile | None:
        reads["retry"] += 1
        return InMemoryProfileStore.get(store, user_id)

    store.get_latest = read_then_interfere  # type: ignore[method-assign]
    store.get = reread  # type: ignore[method-assign]
    outcome = service.process([("m1", message("ann", [make_event(event_id="second")]))])
    assert outcome.failures == {}
    assert reads == {"batch": 2, "retry": 1}  # the read, the erasure check; one re-read
    assert stored(service, "ann").counts["session_start"].total == 2
    assert stored(service, "ann").version == 3


def test_a_batch_reads_profiles_and_writes_history_once_for_all_users(
    service: EventProcessingService,
) -> None:
    calls = Counter[str]()
    for store, name in ((service.profiles, "get_latest"), (service.history, "append")):
        original = getattr(store, name)

        def counted(*args: Any, _name: str = name, _original: Any = original) -> Any:
            calls[_name] += 1
            return _original(*args)

        setattr(store, name, counted)
    users = ["ann", "bob", "cy", "dee"]
    outcome = service.process(
        [(f"m-{u}", message(u, [make_event(), make_event("purchase", amount=2)])) for u in users]
    )
    assert outcome.failures == {} and outcome.applied_events == 8
    assert len(outcome.transitions) == 4  # each user's arrival, recorded with their events
    assert calls == {"get_latest": 2, "append": 1}  # read, write, then the erasure check
    for user in users:
        assert len(service.history.list_user(user)) == 3


def test_a_failed_history_write_retries_every_user_of_the_batch_once(
    service: EventProcessingService,
) -> None:
    batch = [(f"m-{u}", message(u, [make_event("purchase", amount=5)])) for u in ("ann", "bob")]
    original = service.history.append

    def lost(*args: object) -> None:
        raise ConnectionError("lost the connection after the profile writes")

    service.history.append = lost  # type: ignore[method-assign]
    outcome = service.process(batch)
    assert set(outcome.failures) == {"m-ann", "m-bob"}  # both go back to the queue
    service.history.append = original  # type: ignore[method-assign]
    retry = service.process(list(reversed(batch)))  # redelivered, in another order
    assert retry.failures == {} and retry.applied_events == 0  # applied the first time
    for user in ("ann", "bob"):
        assert stored(service, user).purchases.count == 1
        assert [r["name"] for r in service.history.list_user(user) if r["type"] == "event"] == [
            "purchase"
        ]


def test_reordered_streams_end_in_the_same_state(clock: ManualClock) -> None:
    rng = random.Random(7)
    events = [
        make_event(
            rng.choice(["session_start", "screen_view", "purchase"]),
            START - timedelta(hours=rng.randint(0, 24 * 40)),
            event_id=f"r{i}",
            amount=2,
        )
        for i in range(60)
    ]
    results = []
    for seed in range(4):
        service = EventProcessingService(
            InMemoryProfileStore(), InMemoryHistoryStore(), EngagementConfig(), ManualClock(START)
        )
        order = events[:]
        random.Random(seed).shuffle(order)
        chunks, position = [], 0
        while position < len(order):
            size = rng.randint(1, 9)
            chunks.append(order[position : position + size])
            position += size
        deliveries = [(f"m{n}", message("ann", chunk)) for n, chunk in enumerate(chunks)]
        deliveries += deliveries[:3]  # redeliveries
        random.Random(seed + 100).shuffle(deliveries)
        for start in range(0, len(deliveries), 3):
            assert service.process(deliveries[start : start + 3]).failures == {}
        profile = stored(service, "ann")
        # due_at may differ: events only move it earlier, so it is never later than needed.
        excluded = {"recent", "version", "transitions", "stage_since", "due_at"}
        results.append(profile.model_dump(exclude=excluded))
    assert all(result == results[0] for result in results)
    assert results[0]["counts"]["purchase"]["total"] == sum(e.name == "purchase" for e in events)


def test_events_received_before_erasure_are_dropped(
    service: EventProcessingService, clock: ManualClock
) -> None:
    from nudge.services.profiles.privacy import PrivacyService

    privacy = PrivacyService(service.profiles, service.history, service.config, clock)
    service.process([("m1", message("ann", [make_event()]))])
    clock.advance(timedelta(minutes=5))
    assert privacy.erase("ann") == {
        "profile_erased": True,
        "history_records_erased": 2,
        "device_records_erased": 0,
        "survey_records_erased": 0,
        "delivery_records_erased": 0,
        "broadcasts_erased_from": 0,
    }
    in_flight = message("ann", [make_event(event_id="late")], received=START)
    service.process([("m2", in_flight)])
    assert privacy.export("ann")["profile"] is None
    assert privacy.export("ann")["history"] == []
    clock.advance(timedelta(minutes=5))
    fresh = message("ann", [make_event(at=clock.now())], received=clock.now())
    service.process([("m3", fresh)])
    assert stored(service, "ann").counts["session_start"].total == 1


def at_risk_for_ten_days(service: EventProcessingService, clock: ManualClock, user: str) -> None:
    service.process([("m1", message(user, [make_event()]))])
    profile = stored(service, user)
    service.profiles.save(
        profile.model_copy(update={"stage": Stage.AT_RISK, "version": profile.version + 1}),
        profile,
        1,
    )
    clock.advance(timedelta(days=10))


def test_transition_to_reactivated_is_recorded_by_the_event(
    service: EventProcessingService, clock: ManualClock
) -> None:
    at_risk_for_ten_days(service, clock, "ann")
    outcome = service.process([("m2", message("ann", [make_event(at=clock.now())], clock.now()))])
    assert [(t.from_stage, t.to_stage) for _, t in outcome.transitions] == [
        (Stage.AT_RISK, Stage.REACTIVATED)
    ]
    assert to_epoch(clock.now()) == stored(service, "ann").stage_since


def test_crash_in_a_huge_batch_still_counts_each_event_once(
    service: EventProcessingService,
) -> None:
    first = [make_event("screen_view", event_id=f"a{i}") for i in range(100)]
    second = [make_event("screen_view", event_id=f"b{i}") for i in range(100)]
    history = service.history
    original = history.append
    calls = {"n": 0}

    def crash_on_second_chunk(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise ConnectionError("lost the connection mid-batch")
        original(*args, **kwargs)  # type: ignore[arg-type]

    history.append = crash_on_second_chunk  # type: ignore[method-assign]
    outcome = service.process([("m1", message("ann", first)), ("m2", message("ann", second))])
    assert set(outcome.failures) == {"m1", "m2"}
    history.append = original  # type: ignore[method-assign]
    retry = service.process([("m1", message("ann", first)), ("m2", message("ann", second))])
    assert retry.failures == {}
    assert stored(service, "ann").counts["screen_view"].total == 200


def test_a_user_who_returns_after_erasure_keeps_the_new_profile(
    service: EventProcessingService, clock: ManualClock
) -> None:
    from nudge.adapters.dynamo_codec import profile_to_item
    from nudge.services.profiles.privacy import PrivacyService

    privacy = PrivacyService(service.profiles, service.history, service.config, clock)
    service.process([("m1", message("ann", [make_event()]))])
    privacy.erase("ann")
    assert "expires_at" in profile_to_item(stored(service, "ann"), 1)  # the bare tombstone
    clock.advance(timedelta(hours=1))
    service.process([("m2", message("ann", [make_event(at=clock.now())], clock.now()))])
    assert "expires_at" not in profile_to_item(stored(service, "ann"), 1)


def test_an_erasure_during_processing_wins(
    service: EventProcessingService, clock: ManualClock
) -> None:
    from nudge.services.profiles.privacy import PrivacyService

    privacy = PrivacyService(service.profiles, service.history, service.config, clock)
    history = service.history
    original = history.append

    def erase_first(*args: object, **kwargs: object) -> None:
        clock.advance(timedelta(seconds=1))
        privacy.erase("ann")  # the user pressed "delete my data" just now
        original(*args, **kwargs)  # type: ignore[arg-type]

    history.append = erase_first  # type: ignore[method-assign]
    assert service.process([("m1", message("ann", [make_event()]))]).failures == {}
    export = privacy.export("ann")
    assert export["profile"] is None
    assert export["history"] == []


def test_the_number_of_event_names_kept_is_bounded(service: EventProcessingService) -> None:
    events = [
        make_event(f"custom_{i}", START + timedelta(seconds=i), event_id=f"n{i}")
        for i in range(100)
    ]
    service.process([("m1", message("ann", events))])
    counts = stored(service, "ann").counts
    assert len(counts) == service.config.max_event_names
    assert "custom_99" in counts and "custom_0" not in counts  # the most recent are kept


def test_export_pages_through_the_history(
    service: EventProcessingService, clock: ManualClock
) -> None:
    from nudge.services.profiles.privacy import PrivacyService

    privacy = PrivacyService(service.profiles, service.history, service.config, clock)
    service.process([("m1", message("ann", [make_event(event_id=f"e{i:02d}") for i in range(25)]))])
    first = privacy.export("ann", page_size=10)
    assert len(first["history"]) == 10 and first["history_next"]
    records = list(first["history"])
    cursor = first["history_next"]
    while cursor:
        page = privacy.export("ann", history_after=cursor, page_size=10)
        records += page["history"]
        cursor = page["history_next"]
    assert len(records) == 26  # 25 events and the arrival transition


def test_a_stage_change_whose_history_write_was_lost_is_recorded_on_redelivery(
    service: EventProcessingService, clock: ManualClock
) -> None:
    at_risk_for_ten_days(service, clock, "ann")
    body = message("ann", [make_event(at=clock.now())], clock.now())
    original = service.history.append

    def lost(*args: object) -> None:
        raise ConnectionError("lost the connection after the profile write")

    service.history.append = lost  # type: ignore[method-assign]
    first = service.process([("m2", body)])
    assert set(first.failures) == {"m2"}
    service.history.append = original  # type: ignore[method-assign]
    clock.advance(timedelta(seconds=40))  # SQS redelivers after the visibility timeout
    retry = service.process([("m2", body)])
    assert retry.failures == {}
    # the stage changed once (metric counted when it happened), and its record is kept
    assert len(first.transitions) + len(retry.transitions) == 1
    recorded = [r for r in service.history.list_user("ann") if r["type"] == "transition"]
    assert [(r["from_stage"], r["to_stage"]) for r in recorded][-1] == ("at_risk", "reactivated")
    assert sum(r["to_stage"] == "reactivated" for r in recorded) == 1
    service.process([("m2", body)])  # and again: still one record
    recorded = [r for r in service.history.list_user("ann") if r["type"] == "transition"]
    assert sum(r["to_stage"] == "reactivated" for r in recorded) == 1
