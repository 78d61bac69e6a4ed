"""scheduler: time-based lifecycle transitions for the users that are due, and only those.

Profiles carry `due_at` (hour aligned) and a `due_bucket` ('<hour>#<shard>') that the sparse
due-index is keyed on. Each run queries the buckets from its cursor up to the current hour,
re-evaluates those users, and moves the cursor past every bucket it finished. No scans.

A user is evaluated as of the time it was due (never later than now), so a scheduler that
was down, or ticks rarely, catches up with the same transitions at the same times: a user
moved to a later bucket that is already due is met again further along the same run.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nudge.clock import Clock, to_epoch
from nudge.domain.config import EngagementConfig
from nudge.domain.profiles.aggregates import DAY, clone
from nudge.domain.profiles.lifecycle import HOUR, evaluate
from nudge.models.profile import Transition
from nudge.models.stats import StageChange
from nudge.services.campaigns.runner import CampaignRunner, earliest
from nudge.services.geofencing.tracker import GeoTracker
from nudge.services.ports import HistoryStore, ProfileStore
from nudge.services.retry import MAX_WRITE_ATTEMPTS, pause_before_retry

CURSOR = "scheduler-cursor"
FIRST_RUN_LOOKBACK_HOURS = 48


@dataclass
class SchedulerReport:
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

    def run(self, max_users: int = 10_000) -> SchedulerReport:
        now = to_epoch(self.clock.now())
        current_hour = now // HOUR
        cursor = self.profiles.get_cursor(CURSOR)
        if cursor is None:
            cursor = current_hour - FIRST_RUN_LOOKBACK_HOURS
        report = SchedulerReport(cursor=cursor)
        for hour in range(cursor, current_hour + 1):
            for shard in range(self.config.due_shards):
                report.buckets += 1
                for user_id in self.profiles.due_users(f"{hour}#{shard}"):
                    if report.checked >= max_users:
                        report.complete = False
                        break
                    report.checked += 1
                    transition = self._check(user_id, now)
                    if transition is not None:
                        report.transitions.append((user_id, transition))
                if not report.complete:
                    break
            if not report.complete:
                break
            # the current hour is read again next time: campaign times fall within hours
            report.cursor = min(hour + 1, current_hour)
        self.profiles.set_cursor(CURSOR, report.cursor)
        return report

    def _check(self, user_id: str, now: int) -> Transition | None:
        for attempt in range(MAX_WRITE_ATTEMPTS):
            pause_before_retry(attempt)
            previous = self.profiles.get(user_id)
            if previous is None or previous.due_at is None or previous.due_at > now:
                return None  # erased, or an event moved it meanwhile
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
                    self.campaigns.flush(updated, decided)
                return transition
        raise RuntimeError(f"could not update {user_id} after {MAX_WRITE_ATTEMPTS} tries")
