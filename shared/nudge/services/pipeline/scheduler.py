"""scheduler: time-based lifecycle transitions for the users that are due, and only those.

Profiles carry `due_at` and a `due_bucket` ('<hour>#<shard>') that the sparse due-index is
keyed on. The scheduled tick fans the buckets from its cursor up to the current hour out to
the shards queue, one message per bucket with users in it that is not done yet (a big bucket
is cut into parts by user hash, a message each); consumers work through one each at once
(`process_shard`). The cursor passes an hour only when each of its buckets is empty or done
(every part marked by the consumer that finished it). No scans.

Nothing is done twice and nothing is lost: each step of a user is a write conditional on the
profile's version, taken only while `due_at <= now`, so a duplicate message or two consumers
racing on a bucket find the user no longer due; a consumer that dies midway leaves its
message to SQS's redelivery (and the bucket unmarked), and one that runs out of time queues
its bucket again. A user is evaluated as of the time it was due (never later than now), and
again at once while still due, so a late scheduler catches up with the same transitions at
the same times whichever consumer meets the user first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nudge.clock import Clock, to_epoch
from nudge.domain.config import EngagementConfig
from nudge.domain.profiles.aggregates import DAY, clone
from nudge.domain.profiles.lifecycle import HOUR, evaluate
from nudge.models.profile import Profile, Transition
from nudge.models.scheduler import MAX_PARTS, DueShard
from nudge.models.stats import StageChange
from nudge.services.campaigns.runner import CampaignRunner, earliest
from nudge.services.geofencing.tracker import GeoTracker
from nudge.services.ports import DueBuckets, HistoryStore, ProfileStore, ShardQueue
from nudge.services.retry import MAX_WRITE_ATTEMPTS, pause_before_retry

CURSOR = "scheduler-cursor"
FIRST_RUN_LOOKBACK_HOURS = 48
# A tick far behind looks at this many buckets from its cursor (plus the current hour's); the
# rest follow as the cursor moves. Bounds a tick's reads (a count and a mark each).
MAX_BUCKETS_PER_TICK = 4_000
# A bucket is cut into parts of about this many users, one message and consumer each: about
# what one consumer clears in an invocation (docs/performance.md#scheduler).
USERS_PER_PART = 2_000
DONE_MARK_TTL_S = 7 * DAY  # an expired mark only costs one more (idempotent) pass
MAX_STEPS_PER_USER = 32  # a user still due after a step is stepped again, this many times
READ_AHEAD = 25  # profiles read in one BatchGetItem (a round trip per user saved)


@dataclass
class ShardReport:
    bucket: str
    checked: int = 0
    transitions: list[tuple[str, Transition]] = field(default_factory=list)
    complete: bool = True
    already_done: bool = False
    marked_done: bool = False
    requeued: bool = False


@dataclass
class TickReport:
    buckets: int = 0  # looked at
    sent: list[DueShard] = field(default_factory=list)
    cursor: int = 0


@dataclass
class SchedulerReport:
    """An inline run (every bucket in this process, in hour order)."""

    buckets: int = 0
    checked: int = 0
    transitions: list[tuple[str, Transition]] = field(default_factory=list)
    complete: bool = True
    cursor: int = 0


@dataclass
class SchedulerService:
    profiles: ProfileStore
    history: HistoryStore
    config: EngagementConfig
    clock: Clock
    campaigns: CampaignRunner | None = None
    geo: GeoTracker | None = None
    buckets: DueBuckets | None = None  # counts and done marks: the fan-out needs them
    shards: ShardQueue | None = None

    # ---------- the tick: fan out ----------
    def tick(self) -> TickReport:
        if self.buckets is None or self.shards is None:
            raise RuntimeError("the fan-out needs the due buckets and the shards queue")
        now = to_epoch(self.clock.now())
        current_hour = now // HOUR
        cursor = self._cursor(current_hour)
        shards = self.config.due_shards
        last = min(current_hour, cursor + max(1, MAX_BUCKETS_PER_TICK // shards) - 1)
        hours = sorted({*range(cursor, last + 1), current_hour})
        work: list[DueShard] = []
        report = TickReport(cursor=cursor)
        for hour in hours:
            for shard in range(shards):
                report.buckets += 1
                # an empty bucket is skipped: a past one has nothing left to do, and the
                # current hour is looked at again next tick (campaign times fall within hours)
                users = self.buckets.count(f"{hour}#{shard}", USERS_PER_PART * MAX_PARTS)
                parts = min(MAX_PARTS, -(-users // USERS_PER_PART))
                work += [
                    DueShard(hour=hour, shard=shard, part=i, parts=parts) for i in range(parts)
                ]
        done = self.buckets.done([item.key for item in work])
        report.sent = [item for item in work if item.key not in done]
        self.shards.send(report.sent)
        unfinished = {item.hour for item in report.sent}
        while report.cursor < current_hour and report.cursor not in unfinished:
            report.cursor += 1
        if report.cursor != cursor:
            self.profiles.set_cursor(CURSOR, report.cursor)
        return report

    # ---------- a consumer: one part of a bucket ----------
    def process_shard(
        self, shard: DueShard, out_of_time: Callable[[], bool] = lambda: False
    ) -> ShardReport:
        """Work through the part's due users until done or out of time. Done (and the hour
        over): marked, so the tick's cursor may pass it; out of time: queued again."""
        if self.buckets is not None and shard.key in self.buckets.done([shard.key]):
            return ShardReport(shard.key, already_done=True)  # a duplicate of the fan-out
        now = to_epoch(self.clock.now())
        # at least one user per delivery: a part always moves on, however short the time
        report = self._work_through(
            shard.bucket, now, lambda checked: checked > 0 and out_of_time(), shard.holds
        )
        report.bucket = shard.key
        if report.complete and shard.hour < now // HOUR and self.buckets is not None:
            self.buckets.mark_done(shard.key, now + DONE_MARK_TTL_S)
            report.marked_done = True
        elif not report.complete and self.shards is not None:
            self.shards.send([shard])  # if this fails, SQS redelivers this message instead
            report.requeued = True
        return report

    # ---------- everything inline (tests, tools): the same steps, one process ----------
    def run(self, max_users: int = 10_000) -> SchedulerReport:
        now = to_epoch(self.clock.now())
        current_hour = now // HOUR
        cursor = self._cursor(current_hour)
        report = SchedulerReport(cursor=cursor)
        for hour in range(cursor, current_hour + 1):
            for shard in range(self.config.due_shards):
                report.buckets += 1
                part = self._work_through(
                    f"{hour}#{shard}", now, lambda checked: report.checked + checked >= max_users
                )
                report.checked += part.checked
                report.transitions += part.transitions
                if not part.complete:
                    report.complete = False
                    break
            if not report.complete:
                break
            report.cursor = min(hour + 1, current_hour)
        self.profiles.set_cursor(CURSOR, report.cursor)
        return report

    def _cursor(self, current_hour: int) -> int:
        cursor = self.profiles.get_cursor(CURSOR)
        return current_hour - FIRST_RUN_LOOKBACK_HOURS if cursor is None else cursor

    def _work_through(
        self,
        bucket: str,
        now: int,
        stop: Callable[[int], bool],
        holds: Callable[[str], bool] = lambda _user: True,
    ) -> ShardReport:
        """The bucket's users (those `holds` takes) in order; `stop(checked so far)` ends the
        pass unfinished."""
        report = ShardReport(bucket)
        users = [user for user in self.profiles.due_users(bucket) if holds(user)]
        read: dict[str, Profile] = {}
        for index, user_id in enumerate(users):
            if stop(report.checked):
                report.complete = False
                break
            if index % READ_AHEAD == 0:  # one consistent batch read for the next users
                read = self.profiles.get_latest(users[index : index + READ_AHEAD])
            report.checked += 1
            steps = self._settle(user_id, now, read.get(user_id))
            report.transitions += [(user_id, t) for t in steps]
        return report

    def _settle(self, user_id: str, now: int, known: Profile | None = None) -> list[Transition]:
        """Step the user while it is due: each step is the move it had when it was due, so
        whoever meets the user first takes it to now and nobody takes it twice. `known`: the
        profile as last read or written here (a stale one fails the write and is read again)."""
        transitions: list[Transition] = []
        for _ in range(MAX_STEPS_PER_USER):
            last_due = known.due_at if known is not None else None
            stepped = self._step(user_id, now, known)
            if stepped is None:
                break
            transition, known = stepped
            if transition is not None:
                transitions.append(transition)
            due_at = known.due_at
            if due_at is None or due_at > now or (last_due is not None and due_at <= last_due):
                break  # not due any more (or not moving on: left as a one-step pass left it)
        return transitions

    def _step(
        self, user_id: str, now: int, known: Profile | None = None
    ) -> tuple[Transition | None, Profile] | None:
        """One conditional step; None when the user is not due (erased, or moved meanwhile).
        `known`: the profile as last written here, tried first (a stale one fails the write's
        version condition and is read again)."""
        for attempt in range(MAX_WRITE_ATTEMPTS):
            pause_before_retry(attempt)
            previous = known if attempt == 0 and known is not None else self.profiles.get(user_id)
            if previous is None or previous.due_at is None or previous.due_at > now:
                return None  # erased, or an event (or another consumer) moved it meanwhile
            moments = (previous.due_at, previous.last_seen or 0, previous.stage_since or 0)
            as_of = min(now, max(moments))
            updated, transition = evaluate(previous, as_of, self.config.lifecycle, cause="schedule")
            decided = None
            if self.campaigns is not None or self.geo is not None:
                updated = clone(updated)  # campaign and fence state are changed in place
            fence_moves = []
            if self.geo is not None:
                fences = self.campaigns.fence_campaigns() if self.campaigns else []
                fence_moves = self.geo.due(updated, now, fences)
                updated.due_at = earliest(updated.due_at, self.geo.next_due(updated, fences))
            if self.campaigns is not None:
                moves = [transition] if transition else []
                decided = self.campaigns.decide(updated, now, (), moves, fence_moves)
                updated.due_at = earliest(updated.due_at, self.campaigns.next_due(updated, now))
            updated.version = previous.version + 1
            change = StageChange.of(transition) if transition else None
            if self.profiles.save(
                updated, previous, self.config.due_shards, change, decided and decided.counters
            ):
                if transition is not None:
                    expires_at = as_of + self.config.history_ttl_days * DAY
                    self.history.put_transition(user_id, transition, expires_at)
                if self.campaigns is not None and decided is not None:
                    if decided.decision_log:  # the user's decision record (what changed)
                        expiry = now + self.config.decision_record_days * DAY
                        self.history.put_decisions(user_id, decided.decision_log, expiry)
                    self.campaigns.flush(updated, decided)
                return transition, updated
        raise RuntimeError(f"could not update {user_id} after {MAX_WRITE_ATTEMPTS} tries")
