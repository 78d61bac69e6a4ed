"""scheduler logic: only due users, bucket by bucket, cursor-driven, resumable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nudge.clock import ManualClock
from nudge.domain.config import EngagementConfig
from nudge.models.events import QueuedBatch
from nudge.models.profile import Stage
from nudge.services.pipeline.processing import EventProcessingService
from nudge.services.pipeline.scheduler import CURSOR, SchedulerService
from tests.conftest import make_event
from tests.fakes.memory import InMemoryHistoryStore, InMemoryProfileStore


@pytest.fixture
def parts(clock: ManualClock) -> tuple[EventProcessingService, SchedulerService]:
    profiles, history, config = InMemoryProfileStore(), InMemoryHistoryStore(), EngagementConfig()
    return (
        EventProcessingService(profiles, history, config, clock),
        SchedulerService(profiles, history, config, clock),
    )


def visit(processor: EventProcessingService, clock: ManualClock, user: str) -> None:
    body = QueuedBatch(
        user_id=user, received_at=clock.now(), events=[make_event(at=clock.now())]
    ).model_dump_json()
    assert processor.process([(f"{user}-{clock.now()}", body)]).failures == {}


def run_hourly(
    scheduler: SchedulerService, clock: ManualClock, hours: int
) -> list[tuple[str, Stage]]:
    moves = []
    for _ in range(hours):
        clock.advance(timedelta(hours=1))
        report = scheduler.run()
        moves += [(user, t.to_stage) for user, t in report.transitions]
    return moves


def test_inactive_users_decay_on_schedule(
    parts: tuple[EventProcessingService, SchedulerService], clock: ManualClock
) -> None:
    processor, scheduler = parts
    visit(processor, clock, "ann")
    visit(processor, clock, "bob")
    moves = run_hourly(scheduler, clock, 24 * 31)
    assert moves.count(("ann", Stage.AT_RISK)) == 1
    assert moves.count(("ann", Stage.DORMANT)) == 1
    assert processor.profiles.get("ann").due_at is None  # type: ignore[union-attr]
    history = processor.history.list_user("ann")
    assert [r["to_stage"] for r in history if r["type"] == "transition"] == [
        "new",
        "at_risk",
        "dormant",
    ]


def test_active_users_are_not_touched_until_due(
    parts: tuple[EventProcessingService, SchedulerService], clock: ManualClock
) -> None:
    processor, scheduler = parts
    visit(processor, clock, "ann")
    for _ in range(6):
        run_hourly(scheduler, clock, 24)
        visit(processor, clock, "ann")
    profile = processor.profiles.get("ann")
    assert profile is not None and profile.stage == Stage.NEW
    moves = run_hourly(scheduler, clock, 24 * 2)
    assert moves == [("ann", Stage.ACTIVE)]


def test_cursor_advances_and_first_run_looks_back(
    parts: tuple[EventProcessingService, SchedulerService], clock: ManualClock
) -> None:
    _, scheduler = parts
    report = scheduler.run()
    assert report.complete
    assert report.buckets == 49 * scheduler.config.due_shards
    hour = int(clock.now().timestamp()) // 3600
    # the current hour stays under the cursor: campaign times can fall later within it
    assert scheduler.profiles.get_cursor(CURSOR) == hour
    assert scheduler.run().buckets == scheduler.config.due_shards
    clock.advance(timedelta(hours=3))
    assert scheduler.run().buckets == 4 * scheduler.config.due_shards


def test_a_late_scheduler_catches_up(
    parts: tuple[EventProcessingService, SchedulerService], clock: ManualClock
) -> None:
    processor, scheduler = parts
    scheduler.run()
    visit(processor, clock, "ann")
    clock.advance(timedelta(days=10))  # the schedule did not run for 10 days
    report = scheduler.run()
    assert [(u, t.to_stage) for u, t in report.transitions] == [("ann", Stage.AT_RISK)]


def test_work_limit_leaves_the_cursor_on_the_unfinished_bucket(
    parts: tuple[EventProcessingService, SchedulerService], clock: ManualClock
) -> None:
    processor, scheduler = parts
    scheduler.run()
    for user in ("a", "b", "c", "d", "e"):
        visit(processor, clock, user)
    clock.advance(timedelta(days=8))
    first = scheduler.run(max_users=2)
    assert not first.complete and first.checked == 2
    rest = scheduler.run()
    assert rest.complete
    assert len(first.transitions) + len(rest.transitions) == 5


def test_running_twice_at_the_same_time_is_harmless(
    parts: tuple[EventProcessingService, SchedulerService], clock: ManualClock
) -> None:
    processor, scheduler = parts
    scheduler.run()
    visit(processor, clock, "ann")
    clock.advance(timedelta(days=8))
    assert len(scheduler.run().transitions) == 1
    assert scheduler.run().transitions == []


def test_catching_up_gives_the_same_transitions_at_the_same_times(clock: ManualClock) -> None:
    outcomes = []
    for hours_between_runs in (1, 24, 24 * 40):
        run_clock = ManualClock(clock.now())
        profiles, history, config = (
            InMemoryProfileStore(),
            InMemoryHistoryStore(),
            EngagementConfig(),
        )
        processor = EventProcessingService(profiles, history, config, run_clock)
        scheduler = SchedulerService(profiles, history, config, run_clock)
        scheduler.run()
        for user in ("ann", "bob"):
            visit(processor, run_clock, user)
            run_clock.advance(timedelta(days=3))
        elapsed = 0
        while elapsed < 24 * 40:
            run_clock.advance(timedelta(hours=hours_between_runs))
            elapsed += hours_between_runs
            scheduler.run()
        outcomes.append(
            [
                (user, t.to_stage, t.at)
                for user in ("ann", "bob")
                for t in profiles.get(user).transitions
            ]  # type: ignore[union-attr]
        )
    assert outcomes[0] == outcomes[1] == outcomes[2]
    assert [stage for user, stage, _ in outcomes[0] if user == "ann"] == [
        Stage.NEW,
        Stage.AT_RISK,
        Stage.DORMANT,
    ]


def test_lifecycle_counters_match_the_profiles(clock: ManualClock) -> None:
    from collections import Counter

    from nudge.services.engagement.reports import ReportsService
    from nudge.services.profiles.privacy import PrivacyService

    profiles, history, config = InMemoryProfileStore(), InMemoryHistoryStore(), EngagementConfig()
    processor = EventProcessingService(profiles, history, config, clock)
    scheduler = SchedulerService(profiles, history, config, clock)
    privacy = PrivacyService(profiles, history, config, clock)
    scheduler.run()
    moves: Counter[str] = Counter()
    for day in range(40):
        for n in range(6):
            if (day * 7 + n * 3) % (n + 2) == 0 and day < 10 * (n + 1):
                body = QueuedBatch(
                    user_id=f"user-{n}",
                    received_at=clock.now(),
                    events=[make_event(at=clock.now())],
                ).model_dump_json()
                outcome = processor.process([(f"{n}-{day}", body)])
                moves.update(
                    f"{t.from_stage}->{t.to_stage}" for _, t in outcome.transitions if t.from_stage
                )
        if day == 20:
            privacy.erase("user-5")
        clock.advance(timedelta(days=1))
        report = scheduler.run()
        moves.update(f"{t.from_stage}->{t.to_stage}" for _, t in report.transitions if t.from_stage)
    actual = Counter(p.stage.value for p in profiles.items.values() if p.stage is not None)
    lifecycle = ReportsService(profiles, clock).lifecycle(days=45)
    assert {k: v for k, v in lifecycle["stages"].items() if v} == dict(actual)
    assert lifecycle["users"] == sum(actual.values()) == 5  # user-5 erased
    assert lifecycle["transitions"] == dict(moves)
    assert sum(moves.values()) > 5
