"""The per-user rate limit's window math and service, over an in-memory counter (the DynamoDB
counter is exercised through the handlers in tests/integration/test_rate_limits.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nudge.clock import ManualClock, to_epoch
from nudge.domain.ratelimit import Window
from nudge.services.ratelimit import RateLimited, RateLimiter
from tests.fakes.ratelimit import InMemoryRequestCounter


def test_windows_are_fixed_minutes_and_retry_after_is_at_least_a_second() -> None:
    window = Window.at(125)
    assert (window.start, window.end) == (120, 180)
    assert window.retry_after(125) == 55 and window.retry_after(179) == 1
    with pytest.raises(ValueError, match="at least one second"):
        Window.at(0, 0)


def test_the_request_over_the_limit_is_refused_until_the_next_window() -> None:
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, 45, tzinfo=UTC))
    counter = InMemoryRequestCounter()
    limiter = RateLimiter(counter, {"events": 3}, clock)
    for _ in range(3):
        limiter.check("ann", "events")
    with pytest.raises(RateLimited) as refused:
        limiter.check("ann", "events")
    assert refused.value.retry_after == 15 and "at most 3 events requests" in str(refused.value)
    limiter.check("bob", "events")  # per user
    clock.advance(timedelta(seconds=15))
    limiter.check("ann", "events")  # a new window
    window = Window.at(to_epoch(clock.now()))
    assert counter.counts[("events", "ann")] == (window.index, 1)  # one counter, started afresh
    # each write keeps the counter a window past the end of its own, then TTL
    assert counter.expiry[("events", "ann")] == window.end + 60


def test_forget_deletes_the_counter_of_every_scope_it_knows_limited_or_not() -> None:
    clock = ManualClock(datetime(2026, 3, 2, 9, 0, 59, tzinfo=UTC))
    counter = InMemoryRequestCounter()
    RateLimiter(counter, {"events": 5, "surveys": 5}, clock).check("ann", "surveys")
    clock.advance(timedelta(minutes=3))  # long after its window: still there until erased
    RateLimiter(counter, {"events": 5, "surveys": 5}, clock).check("bob", "surveys")

    RateLimiter(counter, {"events": 5, "surveys": 0}, clock).forget("ann")

    assert set(counter.counts) == {("surveys", "bob")}


def test_a_zero_or_missing_limit_never_refuses_and_counts_nothing() -> None:
    counter = InMemoryRequestCounter()
    limiter = RateLimiter(counter, {"events": 0}, ManualClock(datetime(2026, 3, 2, tzinfo=UTC)))
    for _ in range(500):
        limiter.check("ann", "events")
        limiter.check("ann", "surveys")
    assert not counter.counts
