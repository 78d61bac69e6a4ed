"""Lifecycle rules, next checks, and order independence."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nudge.clock import to_epoch
from nudge.domain.config import EngagementConfig, LifecycleThresholds
from nudge.domain.profiles.aggregates import DAY, apply_events
from nudge.domain.profiles.lifecycle import HOUR, evaluate, next_check, return_day, stage_at
from nudge.models.profile import Profile, Stage
from tests.conftest import START, make_event

CONFIG = EngagementConfig()
T = CONFIG.lifecycle


def profile_with(*moments: datetime) -> Profile:
    events = [make_event("session_start", at) for at in moments]
    return apply_events(Profile(user_id="u"), events, CONFIG, to_epoch(max(moments)))


def at(offset_days: float) -> datetime:
    return START + timedelta(days=offset_days)


def stage(profile: Profile, offset_days: float) -> Stage | None:
    return stage_at(profile, to_epoch(at(offset_days)), T)


def test_no_activity_no_stage() -> None:
    assert stage_at(Profile(user_id="u"), to_epoch(START), T) is None
    assert next_check(Profile(user_id="u"), to_epoch(START), T) is None


@pytest.mark.parametrize(
    ("offset", "expected"),
    [
        (0, Stage.NEW),
        (6.5, Stage.NEW),  # day 6, 21:00 UTC
        (6.7, Stage.AT_RISK),  # day 7: seven whole days without activity
        (7, Stage.AT_RISK),
        (29.5, Stage.AT_RISK),
        (30, Stage.DORMANT),
        (400, Stage.DORMANT),
    ],
)
def test_single_visit_decays(offset: float, expected: Stage) -> None:
    assert stage(profile_with(at(0)), offset) == expected


def test_new_becomes_active_after_new_days_when_still_active() -> None:
    profile = profile_with(at(0), at(5), at(8))
    assert stage(profile, 8) == Stage.ACTIVE
    assert stage(profile, 14.5) == Stage.ACTIVE
    assert stage(profile, 15) == Stage.AT_RISK


def test_loyal_needs_enough_active_days_in_30() -> None:
    moments = [at(d) for d in range(0, 24, 2)]  # 12 active days over 23 days
    profile = profile_with(*moments)
    assert stage(profile, 22) == Stage.LOYAL
    almost = profile_with(*moments[:-1])
    assert stage(almost, 20.5) == Stage.ACTIVE


def test_loyal_ends_when_old_days_leave_the_window() -> None:
    moments = [at(d) for d in range(12)] + [at(d) for d in (17, 23)]
    profile = profile_with(*moments)
    assert stage(profile, 23) == Stage.LOYAL
    due = next_check(profile, to_epoch(at(23)), T)
    assert due is not None
    # 12 most recent active days: day 1..11, 17, 23 -> the 12th most recent is day 2.
    assert stage_at(profile, due, T) != Stage.LOYAL or due > to_epoch(at(30))


def test_return_after_gap_is_reactivated_then_ages_out() -> None:
    profile = profile_with(at(0), at(3), at(20))
    assert return_day(profile, T) is not None
    assert stage(profile, 20) == Stage.REACTIVATED
    assert stage(profile, 20 + T.reactivated_days - 0.5) == Stage.AT_RISK  # inactive again
    busy = profile_with(at(0), at(3), *[at(20 + d) for d in range(16)])
    assert stage(busy, 33) == Stage.REACTIVATED
    assert stage(busy, 34.5) == Stage.LOYAL  # 18 active days in the last 30


def test_return_from_dormant_is_reactivated() -> None:
    profile = profile_with(at(0), at(45))
    assert stage(profile, 45) == Stage.REACTIVATED


def test_short_gaps_are_not_reactivation() -> None:
    profile = profile_with(at(0), at(6), at(12))
    assert return_day(profile, T) is None
    assert stage(profile, 12) == Stage.ACTIVE


def test_next_check_is_hour_aligned_and_in_the_future() -> None:
    profile = profile_with(at(0.37))
    now = to_epoch(at(0.37))
    due = next_check(profile, now, T)
    assert due is not None and due > now and due % HOUR == 0
    assert due == to_epoch(datetime(2026, 3, 9, tzinfo=UTC))  # 7 whole days after day 0


def test_dormant_users_leave_the_due_index() -> None:
    profile = profile_with(at(0))
    assert next_check(profile, to_epoch(at(31)), T) is None


def test_evaluate_records_the_transition() -> None:
    profile = profile_with(at(0))
    first, transition = evaluate(profile, to_epoch(at(0)), T, cause="event")
    assert transition is not None
    assert (transition.from_stage, transition.to_stage, transition.cause) == (
        None,
        Stage.NEW,
        "event",
    )
    later, transition = evaluate(first, to_epoch(at(7)), T, cause="schedule")
    assert transition is not None
    assert (transition.from_stage, transition.to_stage) == (Stage.NEW, Stage.AT_RISK)
    assert later.stage_since == to_epoch(at(7))
    assert [t.to_stage for t in later.transitions] == [Stage.NEW, Stage.AT_RISK]
    same, none = evaluate(later, to_epoch(at(8)), T, cause="schedule")
    assert none is None and same.stage == Stage.AT_RISK


def test_events_only_move_the_due_time_earlier() -> None:
    profile, _ = evaluate(profile_with(at(0)), to_epoch(at(0)), T, cause="event")
    first_due = profile.due_at
    assert first_due is not None
    more = apply_events(profile, [make_event(at=at(2))], CONFIG, to_epoch(at(2)))
    updated, _ = evaluate(more, to_epoch(at(2)), T, cause="event")
    assert updated.due_at == first_due  # kept: the scheduler re-checks and reschedules then
    rescheduled, _ = evaluate(updated, first_due, T, cause="schedule")
    assert rescheduled.due_at is not None and rescheduled.due_at > first_due


def test_transition_history_is_bounded() -> None:
    profile = profile_with(at(0))
    for day in range(0, 400, 8):
        profile = apply_events(profile, [make_event(at=at(day))], CONFIG, to_epoch(at(day)))
        profile, _ = evaluate(profile, to_epoch(at(day)), T, cause="event")
        profile, _ = evaluate(profile, to_epoch(at(day + 7.5)), T, cause="schedule")
    assert len(profile.transitions) == 5


def test_thresholds_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="dormant_after_days"):
        LifecycleThresholds(at_risk_after_days=10, dormant_after_days=10)


# ---------- properties ----------


@st.composite
def activity(draw: st.DrawFn) -> list[datetime]:
    offsets = draw(st.lists(st.integers(min_value=0, max_value=60 * 24), min_size=1, max_size=40))
    return [START + timedelta(hours=o) for o in offsets]


@settings(max_examples=200, deadline=None)
@given(moments=activity(), probe_hours=st.integers(min_value=0, max_value=24 * 90))
def test_next_check_never_misses_a_change(moments: list[datetime], probe_hours: int) -> None:
    profile = profile_with(*moments)
    now = to_epoch(max(moments)) + probe_hours * HOUR
    current = stage_at(profile, now, T)
    due = next_check(profile, now, T)
    horizon = due - HOUR if due is not None else now + 120 * DAY
    for t in range(now, horizon + 1, 6 * HOUR):
        assert stage_at(profile, t, T) == current, (t - now) / DAY


@settings(max_examples=150, deadline=None)
@given(moments=activity(), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_stage_is_independent_of_event_order(moments: list[datetime], seed: int) -> None:
    rng = random.Random(seed)
    events = [make_event("session_start", m, event_id=f"x{i}") for i, m in enumerate(moments)]
    now = to_epoch(max(moments)) + rng.randint(0, 40) * DAY
    ordered = apply_events(Profile(user_id="u"), events, CONFIG, now)
    shuffled = events[:]
    rng.shuffle(shuffled)
    profile = Profile(user_id="u")
    for event in shuffled:
        profile = apply_events(profile, [event, rng.choice(events)], CONFIG, now)
    assert stage_at(profile, now, T) == stage_at(ordered, now, T)
    assert next_check(profile, now, T) == next_check(ordered, now, T)


@settings(max_examples=200, deadline=None)
@given(moments=activity(), gap_hours=st.integers(min_value=1, max_value=24 * 45))
def test_whoever_returns_from_at_risk_or_dormant_is_reactivated(
    moments: list[datetime], gap_hours: int
) -> None:
    profile = profile_with(*moments)
    back = max(moments) + timedelta(hours=gap_hours)
    before = stage_at(profile, to_epoch(back), T)
    after = apply_events(profile, [make_event(at=back)], CONFIG, to_epoch(back))
    if before in (Stage.AT_RISK, Stage.DORMANT):
        assert stage_at(after, to_epoch(back), T) == Stage.REACTIVATED
    else:
        assert (
            stage_at(after, to_epoch(back), T) != Stage.REACTIVATED or before == Stage.REACTIVATED
        )
