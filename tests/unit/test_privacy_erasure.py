"""Erasure (PrivacyService.erase) and the rate limit's request counters: they are keyed by the
user id, so erasing the user deletes them: one per scope, whatever window it last counted."""

from __future__ import annotations

from datetime import timedelta

from nudge.clock import ManualClock, to_epoch
from nudge.domain.config import EngagementConfig
from nudge.domain.ratelimit import Window
from nudge.services.profiles.privacy import PrivacyService
from nudge.services.ratelimit import RateLimiter
from tests.conftest import START
from tests.fakes.memory import InMemoryHistoryStore, InMemoryProfileStore
from tests.fakes.ratelimit import InMemoryRequestCounter

LIMITS = {"events": 100, "devices": 60, "preferences": 60, "surveys": 60}


def counted(counter: InMemoryRequestCounter, user: str) -> set[tuple[str, int]]:
    """(scope, window) of the user's counters."""
    return {(scope, counts[0]) for (scope, who), counts in counter.counts.items() if who == user}


def test_erase_deletes_the_users_request_counter_of_every_scope() -> None:
    clock = ManualClock(START + timedelta(seconds=59))
    counter = InMemoryRequestCounter()
    limiter = RateLimiter(counter, LIMITS, clock)
    for scope in ("events", "devices", "preferences"):
        limiter.check("ann", scope)  # the last second of a window
    clock.advance(timedelta(seconds=1))
    for user in ("ann", "bob"):
        limiter.check(user, "events")
        limiter.check(user, "surveys")
    now = Window.at(to_epoch(clock.now())).index
    assert counted(counter, "ann") == {
        ("devices", now - 1),
        ("preferences", now - 1),
        ("events", now),
        ("surveys", now),
    }

    # erased long after: counters past their TTL, not yet swept in DynamoDB, are deleted too;
    # preferences unlimited since: its counter is deleted all the same
    clock.advance(timedelta(minutes=10))
    erasing = RateLimiter(counter, {**LIMITS, "preferences": 0}, clock)
    privacy = PrivacyService(
        InMemoryProfileStore(),
        InMemoryHistoryStore(),
        EngagementConfig(),
        clock,
        rate_limits=erasing,
    )
    privacy.erase("ann")

    assert counted(counter, "ann") == set()
    assert counted(counter, "bob") == {("events", now), ("surveys", now)}  # another user's stay
    limiter.check("ann", "events")  # counting starts afresh
    assert counter.counts[("events", "ann")] == (now + 10, 1)
