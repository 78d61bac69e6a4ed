"""Profile aggregates: correct, and order/duplication independent (property tests)."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nudge.clock import to_epoch
from nudge.domain.config import EngagementConfig, InterestRule
from nudge.domain.profiles.aggregates import (
    RECENT_MAX,
    RECENT_WINDOW_SECONDS,
    active_days_within,
    apply_events,
    count_within,
    day_of,
    event_hash,
    interest_score,
    purchases_within,
    sessions,
    top_interests,
)
from nudge.models.events import IncomingEvent
from nudge.models.profile import Profile
from tests.conftest import START, make_event

NOW = to_epoch(START)
CONFIG = EngagementConfig(
    interests=(
        InterestRule(event="ticket_purchased", interest="commuting", weight=2.0),
        InterestRule(event="product_viewed", from_property="category"),
    )
)


def fold(events: list[IncomingEvent], profile: Profile | None = None, now: int = NOW) -> Profile:
    return apply_events(profile or Profile(user_id="u"), events, CONFIG, now)


def test_first_and_last_seen_are_min_and_max() -> None:
    late = make_event(at=START)
    early = make_event(at=START - timedelta(days=3))
    profile = fold([late, early])
    assert profile.first_seen == to_epoch(START - timedelta(days=3))
    assert profile.last_seen == NOW


def test_counts_per_name_and_rolling_windows() -> None:
    events = [
        make_event("screen_view", START - timedelta(days=d)) for d in (0, 1, 6, 7, 20, 29, 30)
    ]
    profile = fold(events)
    assert profile.counts["screen_view"].total == 7
    assert count_within(profile, "screen_view", NOW, 7) == 3  # days 0, 1, 6
    assert count_within(profile, "screen_view", NOW, 30) == 6  # day 30 is outside
    assert count_within(profile, "missing", NOW, 30) == 0


def test_sessions_count_session_events() -> None:
    profile = fold([make_event("session_start") for _ in range(4)] + [make_event("screen_view")])
    assert sessions(profile, CONFIG) == 4


def test_purchases_sum_amounts_and_ignore_bad_amounts() -> None:
    profile = fold(
        [
            make_event("purchase", amount=10.5),
            make_event("purchase", amount=4),
            make_event("purchase", amount=-3),
            make_event("purchase", amount="12"),
            make_event("purchase", amount=True),
            make_event("purchase"),
            make_event("order_completed", START - timedelta(days=40), amount=100),
        ]
    )
    assert profile.purchases.count == 7
    assert profile.purchases.total == pytest.approx(114.5)
    assert purchases_within(profile, NOW, 30) == pytest.approx(14.5)


def test_fixed_and_property_interests() -> None:
    profile = fold(
        [
            make_event("ticket_purchased"),
            make_event("product_viewed", category="Shoes"),
            make_event("product_viewed", category="shoes "),
            make_event("product_viewed", category=""),
            make_event("product_viewed"),
        ]
    )
    ranked = dict(top_interests(profile, NOW, CONFIG))
    assert ranked["commuting"] == pytest.approx(2.0)
    assert ranked["shoes"] == pytest.approx(2.0)
    assert set(ranked) == {"commuting", "shoes"}


def test_interest_decays_with_half_life() -> None:
    profile = fold([make_event("ticket_purchased", START - timedelta(days=14))])
    score = profile.interests["commuting"]
    assert interest_score(score, NOW, CONFIG) == pytest.approx(1.0)  # 2.0 halved after 14 days


def test_interests_are_capped_to_the_strongest() -> None:
    config = EngagementConfig(
        max_interests=3, interests=(InterestRule(event="product_viewed", from_property="category"),)
    )
    events = [
        make_event("product_viewed", category=f"c{i}") for i in range(6) for _ in range(i + 1)
    ]
    profile = apply_events(Profile(user_id="u"), events, config, NOW)
    assert set(profile.interests) == {"c5", "c4", "c3"}


def test_windows_are_pruned_relative_to_latest_event() -> None:
    old = make_event("screen_view", START - timedelta(days=45))
    profile = fold([old, make_event("screen_view")])
    assert day_of(to_epoch(START - timedelta(days=45))) not in profile.counts["screen_view"].days
    assert day_of(to_epoch(START - timedelta(days=45))) in profile.active_days  # 60-day horizon
    assert profile.counts["screen_view"].total == 2


def test_reapplying_the_same_event_is_a_no_op() -> None:
    event = make_event("purchase", amount=5)
    once = fold([event])
    twice = fold([event], once)
    assert twice.model_dump(exclude={"recent"}) == once.model_dump(exclude={"recent"})


def test_recent_fingerprints_expire_and_are_bounded() -> None:
    profile = fold([make_event() for _ in range(RECENT_MAX + 10)])
    assert len(profile.recent) == RECENT_MAX
    later = fold([make_event()], profile, now=NOW + RECENT_WINDOW_SECONDS + 1)
    assert len(later.recent) == 1


def test_event_hash_is_short_and_stable() -> None:
    assert event_hash("abc") == event_hash("abc")
    assert event_hash("abc") != event_hash("abd")
    assert len(event_hash("x" * 128)) == 8


def test_active_days_within() -> None:
    profile = fold([make_event(at=START - timedelta(days=d)) for d in (0, 0, 1, 5, 29, 31)])
    assert active_days_within(profile, NOW, 30) == 4


# ---------- properties: any order, any batching, any duplication -> the same profile ----------

NAMES = ["session_start", "screen_view", "purchase", "ticket_purchased", "product_viewed"]


@st.composite
def event_streams(draw: st.DrawFn) -> list[IncomingEvent]:
    count = draw(st.integers(min_value=1, max_value=40))
    events = []
    for index in range(count):
        name = draw(st.sampled_from(NAMES))
        offset = draw(st.integers(min_value=0, max_value=70 * 24 * 60))
        props: dict[str, object] = {}
        if name == "purchase":
            props["amount"] = draw(st.integers(min_value=0, max_value=500))
        if name == "product_viewed":
            props["category"] = draw(st.sampled_from(["shoes", "bags", "hats"]))
        events.append(
            make_event(name, START - timedelta(minutes=offset), event_id=f"p-{index}", **props)
        )
    return events


def comparable(profile: Profile) -> dict[str, object]:
    data = profile.model_dump(exclude={"recent", "interests"})
    data["interests"] = {
        name: round(interest_score(score, NOW, CONFIG), 6)
        for name, score in profile.interests.items()
    }
    return data


@settings(max_examples=150, deadline=None)
@given(events=event_streams(), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_any_order_and_batching_gives_the_same_profile(
    events: list[IncomingEvent], seed: int
) -> None:
    rng = random.Random(seed)
    reference = fold(events)
    shuffled = events[:]
    rng.shuffle(shuffled)
    profile = Profile(user_id="u")
    start = 0
    while start < len(shuffled):
        size = rng.randint(1, 7)
        profile = fold(shuffled[start : start + size], profile)
        start += size
    assert comparable(profile) == comparable(reference)


@settings(max_examples=150, deadline=None)
@given(events=event_streams(), seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_duplicated_deliveries_count_once(events: list[IncomingEvent], seed: int) -> None:
    rng = random.Random(seed)
    reference = fold(events)
    delivered = events + [rng.choice(events) for _ in range(rng.randint(1, 20))]
    rng.shuffle(delivered)
    profile = Profile(user_id="u")
    for start in range(0, len(delivered), 5):
        profile = fold(delivered[start : start + 5], profile)
    assert comparable(profile) == comparable(reference)
