"""The scheduler's fan-out: the tick queues due buckets, consumers work through them at once.

Each user's steps happen once, whatever SQS does: duplicates of the fan-out message, two
consumers racing on one bucket, a consumer dying midway (its message redelivered), a consumer
out of time (its bucket queued again); and the cursor never passes a bucket not done.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from nudge.clock import ManualClock, to_epoch
from nudge.domain.config import EngagementConfig
from nudge.domain.profiles.lifecycle import HOUR
from nudge.models.events import QueuedBatch
from nudge.models.profile import Profile
from nudge.models.scheduler import DueShard
from nudge.models.stats import StageChange
from nudge.services.pipeline import scheduler as scheduler_module
from nudge.services.pipeline.processing import EventProcessingService
from nudge.services.pipeline.scheduler import CURSOR, SchedulerService
from tests.conftest import make_event
from tests.fakes.memory import InMemoryHistoryStore, InMemoryProfileStore
from tests.fakes.scheduler import InMemoryDueBuckets, InMemoryShardQueue

USERS = [f"user-{n:02d}" for n in range(24)]


class ConsumerDied(Exception):
    """The Lambda was killed (timeout, out of memory) in the middle of a bucket."""


class DyingProfiles(InMemoryProfileStore):
    """Saves `dies_after` more profiles, then the consumer dies on the next one."""

    dies_after: int | None = None

    def save(
        self,
        profile: Profile,
        previous: Profile | None,
        due_shards: int,
        change: StageChange | None = None,
        counters: Mapping[str, Mapping[str, int]] | None = None,
    ) -> bool:
        if self.dies_after is not None:
            if self.dies_after == 0:
                raise ConsumerDied
            self.dies_after -= 1
        return super().save(profile, previous, due_shards, change, counters)


class World:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.config = EngagementConfig()
        self.profiles = DyingProfiles()
        self.history = InMemoryHistoryStore()
        self.buckets = InMemoryDueBuckets(self.profiles)
        self.queue = InMemoryShardQueue()
        self.processor = EventProcessingService(
            self.profiles, self.history, self.config, self.clock
        )
        self.scheduler = self.consumer()

    def consumer(self) -> SchedulerService:
        """One more consumer (Lambda instance) over the same tables and queue."""
        return SchedulerService(
            self.profiles,
            self.history,
            self.config,
            self.clock,
            buckets=self.buckets,
            shards=self.queue,
        )

    def visit(self, *users: str) -> None:
        for user in users:
            body = QueuedBatch(
                user_id=user, received_at=self.clock.now(), events=[make_event(at=self.clock.now())]
            ).model_dump_json()
            assert self.processor.process([(f"{user}-{self.clock.now()}", body)]).failures == {}

    def deliver_all(self) -> list[tuple[str, str]]:
        """Consume the queue as SQS and Lambda would: a message whose consumer died comes
        back (redelivery); the (user, stage) moves made, in order."""
        moves = []
        while messages := self.queue.take_all():
            for shard in messages:
                try:
                    report = self.scheduler.process_shard(shard)
                except ConsumerDied:
                    self.queue.send([shard])  # not deleted: visible again after the timeout
                    continue
                moves += [(user, t.to_stage.value) for user, t in report.transitions]
        return moves

    def transitions(self, user: str) -> list[str]:
        records = self.history.list_user(user)
        return [r["to_stage"] for r in records if r["type"] == "transition"]


def biggest(world: World, shards: list[DueShard]) -> DueShard:
    return max(shards, key=lambda shard: len(world.profiles.due_users(shard.bucket)))


@pytest.fixture
def world(clock: ManualClock) -> World:
    world = World(clock)
    world.scheduler.run()  # the cursor starts at the current hour
    world.visit(*USERS)
    clock.advance(timedelta(days=8))  # every user is due: new -> at_risk
    return world


def test_the_tick_queues_each_due_bucket_once_and_skips_empty_ones(world: World) -> None:
    report = world.scheduler.tick()
    due = {b for b in world.profiles.due_buckets.values()}
    assert sorted(s.key for s in report.sent) == sorted(due) and len(due) > 1  # several shards
    shards = world.config.due_shards
    assert report.buckets == (8 * 24 + 1) * shards  # every bucket since the cursor
    assert world.queue.take_all() == report.sent


def test_every_due_user_moves_once_and_the_cursor_passes_done_hours(world: World) -> None:
    world.scheduler.tick()
    moves = world.deliver_all()
    assert sorted(moves) == sorted((user, "at_risk") for user in USERS)
    assert all(world.transitions(user) == ["new", "at_risk"] for user in USERS)
    report = world.scheduler.tick()
    current_hour = to_epoch(world.clock.now()) // HOUR
    assert report.cursor == current_hour == world.profiles.get_cursor(CURSOR)
    assert report.sent == []  # nothing left due


def test_a_consumer_dying_midway_leaves_the_rest_to_the_redelivery(world: World) -> None:
    world.scheduler.tick()
    bucket = biggest(world, world.queue.take_all())
    in_bucket = world.profiles.due_users(bucket.bucket)
    assert len(in_bucket) >= 3
    world.profiles.dies_after = 2
    with pytest.raises(ConsumerDied):
        world.scheduler.process_shard(bucket)
    assert bucket.key not in world.buckets.marks  # not done: the cursor must wait for it
    assert world.scheduler.tick().cursor < to_epoch(world.clock.now()) // HOUR
    world.profiles.dies_after = None
    world.queue.take_all()
    world.queue.send([bucket])  # SQS redelivers the message its consumer never deleted
    world.deliver_all()
    assert bucket.key in world.buckets.marks
    assert all(world.transitions(user) == ["new", "at_risk"] for user in in_bucket)


def test_the_cursor_never_passes_an_unfinished_bucket(world: World) -> None:
    start = world.profiles.get_cursor(CURSOR)
    first = world.scheduler.tick()
    stuck = min(first.sent, key=lambda s: (s.hour, s.shard))  # all after it must wait
    world.queue.take_all()
    for bucket in first.sent:
        if bucket != stuck:
            world.scheduler.process_shard(bucket)
    again = world.scheduler.tick()
    assert again.cursor == stuck.hour >= (start or 0)
    assert stuck in again.sent and set(again.sent) == {stuck}
    world.deliver_all()
    assert world.scheduler.tick().cursor == to_epoch(world.clock.now()) // HOUR


def test_duplicates_of_the_fanout_message_do_nothing_twice(world: World) -> None:
    world.scheduler.tick()
    world.scheduler.tick()  # a retried tick: every bucket queued twice
    sent = world.queue.messages[:]
    assert Counter(sent) == Counter({bucket: 2 for bucket in set(sent)})
    moves = world.deliver_all()
    assert Counter(user for user, _ in moves) == Counter(USERS)
    for bucket in set(sent):  # the second copy of a done bucket reads one mark, no users
        assert world.scheduler.process_shard(bucket).already_done


def test_an_out_of_time_consumer_queues_the_rest_of_its_bucket(world: World) -> None:
    world.scheduler.tick()
    bucket = biggest(world, world.queue.take_all())
    in_bucket = world.profiles.due_users(bucket.bucket)
    calls = iter(range(10_000))
    # asked before each user after the first: every delivery moves the bucket on
    report = world.scheduler.process_shard(bucket, out_of_time=lambda: next(calls) >= 1)
    assert report.checked == 2 and not report.complete
    assert report.requeued and world.queue.messages == [bucket] and not report.marked_done
    world.deliver_all()
    assert all(world.transitions(user) == ["new", "at_risk"] for user in in_bucket)
    assert bucket.key in world.buckets.marks


def test_two_consumers_racing_on_one_bucket_step_each_user_once(world: World) -> None:
    """Consumer A reads a user, consumer B then takes the whole bucket through, and only then
    does A write: A's write is refused (the version moved) and A finds the user no longer due."""
    world.scheduler.tick()
    bucket = biggest(world, world.queue.take_all())
    in_bucket = world.profiles.due_users(bucket.bucket)
    a, b = world.consumer(), world.consumer()
    save = world.profiles.save
    reports_b: list[Any] = []

    def save_after_b_ran(*args: Any, **kwargs: Any) -> bool:
        world.profiles.save = save  # type: ignore[method-assign]
        reports_b.append(b.process_shard(bucket))  # B runs between A's read and A's write
        return save(*args, **kwargs)

    world.profiles.save = save_after_b_ran  # type: ignore[method-assign]
    report_a = a.process_shard(bucket)
    (report_b,) = reports_b
    moved = [u for u, _ in report_a.transitions] + [u for u, _ in report_b.transitions]
    assert sorted(moved) == sorted(in_bucket)  # each user's move by exactly one of them
    assert report_b.transitions and not report_a.transitions
    assert all(world.transitions(user) == ["new", "at_risk"] for user in in_bucket)


def test_consumers_in_threads_move_each_user_once(world: World) -> None:
    world.scheduler.tick()
    messages = world.queue.take_all() * 3  # every bucket delivered to three consumers
    consumers = [world.consumer() for _ in messages]
    start = threading.Barrier(len(messages))
    moved: list[str] = []
    lock = threading.Lock()

    def consume(consumer: SchedulerService, bucket: DueShard) -> None:
        start.wait()
        report = consumer.process_shard(bucket)
        with lock:
            moved.extend(user for user, _ in report.transitions)

    threads = [
        threading.Thread(target=consume, args=pair)
        for pair in zip(consumers, messages, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Counter(moved) == Counter(USERS)
    assert all(world.transitions(user) == ["new", "at_risk"] for user in USERS)


def test_the_current_hour_is_never_marked_done(world: World) -> None:
    current_hour = to_epoch(world.clock.now()) // HOUR
    world.visit("late")
    world.clock.advance(timedelta(days=8))
    world.scheduler.tick()
    world.deliver_all()
    now_hour = to_epoch(world.clock.now()) // HOUR
    assert current_hour < now_hour
    assert not [b for b in world.buckets.marks if int(b.split("#")[0]) >= now_hour]


def test_catching_up_in_parallel_gives_the_serial_transitions(clock: ManualClock) -> None:
    """Forty days late, the buckets handled newest first (the worst order): each user gets the
    same transitions at the same times as one serial run gives."""
    outcomes = []
    for newest_first in (False, True):
        world = World(ManualClock(clock.now()))
        world.scheduler.run()
        for user in USERS[:6]:
            world.visit(user)
            world.clock.advance(timedelta(days=3))
        world.clock.advance(timedelta(days=40))
        if newest_first:
            world.scheduler.tick()
            for bucket in sorted(world.queue.take_all(), key=lambda s: -s.hour):
                world.scheduler.process_shard(bucket)
        else:
            world.scheduler.run()
        outcomes.append(
            {
                user: [
                    (r["to_stage"], r["at"])
                    for r in world.history.list_user(user)
                    if r["type"] == "transition"
                ]
                for user in USERS[:6]
            }
        )
    assert outcomes[0] == outcomes[1]
    assert all(len(moves) == 3 for moves in outcomes[0].values())  # new, at_risk, dormant


def test_a_big_bucket_is_cut_into_parts_each_user_in_exactly_one(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More due users than one consumer clears: the bucket goes out as several messages, so
    more consumers than `due_shards` work on one hour at once."""
    monkeypatch.setattr(scheduler_module, "USERS_PER_PART", 2)
    report = world.scheduler.tick()
    by_bucket: dict[str, list[DueShard]] = {}
    for shard in report.sent:
        by_bucket.setdefault(shard.bucket, []).append(shard)
    assert len(report.sent) > len(by_bucket)  # some bucket was cut
    for bucket, parts in by_bucket.items():
        users = world.profiles.due_users(bucket)
        assert len(parts) == -(-len(users) // 2)
        held = [user for user in users for part in parts if part.holds(user)]
        assert sorted(held) == sorted(users)  # each user in exactly one part
    moves = world.deliver_all()
    assert Counter(user for user, _ in moves) == Counter(USERS)
    assert {shard.key for shard in report.sent} <= set(world.buckets.marks)
    assert world.scheduler.tick().cursor == to_epoch(world.clock.now()) // HOUR


def test_a_malformed_part_is_refused_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="part 3 is not below parts 2"):
        DueShard(hour=1, shard=0, part=3, parts=2)
    with pytest.raises(ValidationError, match="shard"):
        DueShard.model_validate_json('{"hour": 1, "shard": -1}')
