"""Lifecycle stages as a pure function of the profile's aggregates and the time.

    new          first seen less than `new_days` ago
    active       seen in the last `at_risk_after_days` days
    loyal        active on at least `loyal_active_days` of the last 30 days
    at_risk      no activity for `at_risk_after_days` whole (UTC) days
    dormant      no activity for `dormant_after_days` whole (UTC) days
    reactivated  came back after at least `at_risk_after_days` days away, for `reactivated_days`

Inactivity is counted in days, like the return gap, so that anyone who was at_risk or
dormant and comes back is reactivated, and nobody else is.

Because the stage depends only on aggregates (which are order-independent) and `now`, a
reordered or duplicated event stream ends in the same stage.
"""

from __future__ import annotations

from nudge.domain.config import LifecycleThresholds
from nudge.domain.profiles.aggregates import DAY, active_days_within, day_of
from nudge.models.profile import Profile, Stage, Transition

HOUR = 3_600
LOYAL_WINDOW_DAYS = 30
MAX_TRANSITIONS_KEPT = 5  # the full record is in the history table


def return_day(profile: Profile, thresholds: LifecycleThresholds) -> int | None:
    """The latest active day that followed a gap of at least `at_risk_after_days`."""
    if profile.first_seen is None:
        return None
    first_day = day_of(profile.first_seen)
    gap = thresholds.at_risk_after_days
    days = sorted(profile.active_days)
    for index in range(len(days) - 1, -1, -1):
        day = days[index]
        previous = days[index - 1] if index > 0 else None
        if previous is not None and day - previous >= gap:
            return day
        if previous is None and first_day <= day - gap:
            return day  # earlier activity is older than the kept horizon: a long gap
    return None


def stage_at(profile: Profile, now: int, thresholds: LifecycleThresholds) -> Stage | None:
    if profile.first_seen is None or profile.last_seen is None:
        return None
    inactive_days = day_of(now) - day_of(profile.last_seen)
    if inactive_days >= thresholds.dormant_after_days:
        return Stage.DORMANT
    if inactive_days >= thresholds.at_risk_after_days:
        return Stage.AT_RISK
    returned = return_day(profile, thresholds)
    if returned is not None and now < (returned + thresholds.reactivated_days) * DAY:
        return Stage.REACTIVATED
    if now - profile.first_seen < thresholds.new_days * DAY:
        return Stage.NEW
    if active_days_within(profile, now, LOYAL_WINDOW_DAYS) >= thresholds.loyal_active_days:
        return Stage.LOYAL
    return Stage.ACTIVE


def next_check(profile: Profile, now: int, thresholds: LifecycleThresholds) -> int | None:
    """The earliest time, after `now`, at which the stage could change without a new event.

    Rounded up to the hour: the scheduler reads the due-time index in hour buckets.
    """
    if profile.first_seen is None or profile.last_seen is None:
        return None
    last_day = day_of(profile.last_seen)
    candidates = [
        profile.first_seen + thresholds.new_days * DAY,
        (last_day + thresholds.at_risk_after_days) * DAY,
        (last_day + thresholds.dormant_after_days) * DAY,
    ]
    returned = return_day(profile, thresholds)
    if returned is not None:
        candidates.append((returned + thresholds.reactivated_days) * DAY)
    if stage_at(profile, now, thresholds) == Stage.LOYAL:
        # Loyalty ends when the k-th most recent active day leaves the 30-day window (at the
        # start of the day 30 days later); only events can make anyone loyal.
        recent_days = sorted((d for d in profile.active_days if d <= day_of(now)), reverse=True)
        if len(recent_days) >= thresholds.loyal_active_days:
            kth = recent_days[thresholds.loyal_active_days - 1]
            candidates.append((kth + LOYAL_WINDOW_DAYS) * DAY)
    upcoming = [c for c in candidates if c > now]
    if not upcoming:
        return None
    soonest = min(upcoming)
    return -(-soonest // HOUR) * HOUR


def evaluate(
    profile: Profile, now: int, thresholds: LifecycleThresholds, cause: str
) -> tuple[Profile, Transition | None]:
    """Bring the stored stage and the next check up to date as of `now`.

    The due time only moves earlier on events (a later one is found by the scheduler when it
    wakes): that keeps the due-time index from being rewritten on every event batch.
    """
    result = profile.model_copy()  # shallow: the fields below are replaced, never mutated
    stage = stage_at(result, now, thresholds)
    transition = None
    if stage is not None and stage != result.stage:
        transition = Transition(from_stage=result.stage, to_stage=stage, at=now, cause=cause)
        result.stage = stage
        result.stage_since = now
        result.transitions = [*result.transitions, transition][-MAX_TRANSITIONS_KEPT:]
    due = next_check(result, now, thresholds)
    keep_earlier = cause == "event" and result.due_at is not None and result.due_at > now
    if keep_earlier and due is not None and result.due_at is not None:
        result.due_at = min(result.due_at, due)
    else:
        result.due_at = due
    return result, transition
