"""The holdout is decided where a send would be, and counted as a send would be.

A user joins the holdout only once audience, consent, max_per_user, cooldown, caps and the
send window would have let the message go; that "would have sent" moment then advances the
campaign's bookkeeping exactly like a send. So both arms collect the same exposures per user,
and the lift interval (exposed minus holdout) is honest: simulated campaigns with no effect
cover 0 about 95 % of the time, and a real +5 point effect is found.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from nudge.domain import campaigns as engine
from nudge.domain.config import CategoryCaps, EngagementConfig
from nudge.domain.engagement.attribution import Cell
from nudge.domain.engagement.counters import cells_of, day_of_counter, merge
from nudge.domain.engagement.lift import Lift, campaign_lift
from nudge.models.campaign import Campaign, CampaignSet
from nudge.models.device import Preferences
from nudge.models.events import IncomingEvent
from nudge.models.profile import Profile
from nudge.services.campaigns.runner import CampaignRunner
from tests.fakes.memory import InMemoryCampaignCatalog, InMemoryQueue

NOW = 1_772_442_000  # 2026-03-02 09:00 UTC, a Monday
HOUR = 3600


def make(campaign_id: str = "promo", **fields: Any) -> Campaign:
    data: dict[str, Any] = {
        "id": campaign_id,
        "name": campaign_id,
        "status": "active",
        "trigger": {"event": {"name": "browse"}},
        "variants": [{"id": "a", "title": "T", "body": "B"}],
        "holdout_pct": 50,
        "goal": {"event": "purchase", "within": "3d"},
    }
    data.update(fields)
    return Campaign.model_validate(data)


def ctx(now: int, caps: Mapping[str, CategoryCaps] | None = None) -> engine.Context:
    return engine.Context(
        now=now,
        zone="UTC",
        named={},
        caps=caps if caps is not None else {},
        consent=lambda: {"marketing": True},
    )


def users_in_each_arm(campaign: Campaign) -> tuple[str, str]:
    """(a user the campaign would message, a user in its holdout): the hash decides."""
    ids = [f"user-{i}" for i in range(100)]
    exposed = next(u for u in ids if not engine.in_holdout(campaign, u))
    held = next(u for u in ids if engine.in_holdout(campaign, u))
    return exposed, held


def trigger_each(campaign: Campaign, user: str, moments: list[int], **caps: Any) -> list[str]:
    """One candidate per moment, decided as it comes; the outcomes in order."""
    profile = Profile(user_id=user)
    outcomes = []
    for n, at in enumerate(moments):
        found = engine.Candidate(campaign, f"e:{n}", at)
        for decision in engine.decide_all([found], profile, ctx(at, caps or None)):
            outcomes.append(decision.outcome)
    return outcomes


def would_send(outcomes: list[str]) -> int:
    return sum(o in ("send", "holdout:holdout") for o in outcomes)


# --- (a) equal exposure per user across arms --------------------------------------------------


def test_max_per_user_caps_the_holdout_like_the_exposed() -> None:
    once = make(delivery={"max_per_user": 1, "cooldown": "0s"})
    exposed, held = users_in_each_arm(once)
    five = [NOW + n * 60 for n in range(5)]
    sent, holdout = trigger_each(once, exposed, five), trigger_each(once, held, five)
    assert sent == ["send"] + ["suppress:max_per_user"] * 4
    assert holdout == ["holdout:holdout"] + ["suppress:max_per_user"] * 4


def test_cooldown_spaces_the_holdout_like_the_exposed() -> None:
    spaced = make(delivery={"max_per_user": 10, "cooldown": "6h"})
    exposed, held = users_in_each_arm(spaced)
    hourly = [NOW + n * HOUR for n in range(13)]  # sends at 0h, 6h, 12h
    sent, holdout = trigger_each(spaced, exposed, hourly), trigger_each(spaced, held, hourly)
    assert would_send(sent) == would_send(holdout) == 3
    assert [o == "send" for o in sent] == [o == "holdout:holdout" for o in holdout]


def test_a_holdout_waits_for_the_send_window_like_the_exposed() -> None:
    # 09:00 UTC is outside a 12:00-14:00 window: both arms wait, neither is counted yet
    windowed = make(delivery={"send_window": {"start": "12:00", "end": "14:00"}})
    exposed, held = users_in_each_arm(windowed)
    for user in (exposed, held):
        profile = Profile(user_id=user)
        [early] = engine.decide_all([engine.Candidate(windowed, "e:1", NOW)], profile, ctx(NOW))
        assert early.outcome == "wait:send_window"
        assert not profile.messaging.exposures and not profile.messaging.campaigns


def test_a_holdouts_would_be_send_counts_against_the_category_caps() -> None:
    """Otherwise the holdout gets the other campaigns' messages the exposed user was capped
    out of, and the comparison measures those too."""
    first = make("first", priority=5)
    other = make("other", holdout_pct=0)
    exposed, held = users_in_each_arm(first)
    one_a_day = {"marketing": CategoryCaps(per_day=1, per_week=8)}
    for user, arm in ((exposed, "send"), (held, "holdout:holdout")):
        profile = Profile(user_id=user)
        both = [engine.Candidate(first, "e:1", NOW), engine.Candidate(other, "e:1", NOW)]
        decided = engine.decide_all(both, profile, ctx(NOW, one_a_day))
        assert [d.outcome for d in decided] == [arm, "suppress:outranked"]
        later = engine.decide_all(
            [engine.Candidate(other, "e:2", NOW + HOUR)], profile, ctx(NOW + HOUR, one_a_day)
        )
        assert [d.outcome for d in later] == ["suppress:global_cap"]


def test_exposures_waiting_for_the_goal_are_equal_across_arms() -> None:
    once = make(delivery={"max_per_user": 1, "cooldown": "0s"})
    exposed, held = users_in_each_arm(once)
    counts = {}
    for user in (exposed, held):
        profile = Profile(user_id=user)
        for n in range(5):
            engine.decide_all([engine.Candidate(once, f"e:{n}", NOW + n)], profile, ctx(NOW + n))
        counts[user] = len(profile.messaging.exposures)
    assert counts == {exposed: 1, held: 1}


def test_the_arm_is_the_same_at_every_would_be_send() -> None:
    spaced = make(delivery={"max_per_user": 4, "cooldown": "1h"})
    for user in (f"user-{i}" for i in range(40)):
        arms = {o for o in trigger_each(spaced, user, [NOW + n * HOUR for n in range(4)])}
        assert arms in ({"send"}, {"holdout:holdout"})


# --- (b), (c) simulated campaigns through the real runner and lift ----------------------------


class _Consenting:
    """Every simulated user opted in to marketing (one stored record serves them all)."""

    stored = Preferences(user_id="anyone", categories={"marketing": True})

    def preferences(self, user_id: str) -> Preferences:
        return self.stored


def _event(name: str, event_id: str, at: int) -> IncomingEvent:
    return IncomingEvent(event_id=event_id, name=name, timestamp=datetime.fromtimestamp(at, tz=UTC))


def simulate(
    rng: random.Random, campaign_id: str, users: int, effect: float, baseline: float
) -> Lift:
    """One campaign: each user browses 1-3 times (heavier browsers convert more, whatever
    the arm), converts within the goal window with their own chance, plus `effect` if they
    were actually messaged. Decided and counted by CampaignRunner, judged by campaign_lift."""
    campaign = make(campaign_id, delivery={"max_per_user": 1, "cooldown": "0s"})
    config = EngagementConfig()
    runner = CampaignRunner(
        InMemoryCampaignCatalog(CampaignSet(campaigns={campaign.id: campaign})),
        _Consenting(),
        InMemoryQueue(),
        config,
    )
    counters: dict[str, Counter[str]] = {}

    def add(found: Mapping[str, Counter[str]]) -> None:
        for name, fields in found.items():
            counters.setdefault(name, Counter()).update(fields)

    for u in range(users):
        profile = Profile(user_id=f"{campaign_id}-u{u}")
        visits = rng.randint(1, 3)
        moments = sorted(NOW + rng.randrange(6 * HOUR) for _ in range(visits))
        browses = [_event("browse", f"b{u}-{n}", at) for n, at in enumerate(moments)]
        decided = runner.decide(profile, moments[-1], browses)
        add(decided.counters)
        messaged = any(d.action == "send" for d in decided.decisions)
        chance = baseline + 0.06 * (visits - 2) + (effect if messaged else 0.0)
        if rng.random() < chance:
            at = moments[-1] + rng.randrange(1, 2 * 86_400)
            add(runner.decide(profile, at, [_event("purchase", f"p{u}", at)]).counters)
    cells: dict[Cell, Counter[str]] = {}
    for name, fields in counters.items():
        if name.startswith("cells#"):  # the response cells (breakdown.py): not lift's
            continue
        where = day_of_counter(name)
        assert where is not None
        merge(cells, cells_of(where[0], where[1], fields, category="marketing"))
    return campaign_lift(cells, campaign_id, config.analytics)


def test_with_no_true_effect_the_interval_covers_zero_about_95_percent() -> None:
    rng = random.Random(21)
    runs = 400  # the share covered is then known to about +-1 point
    covered = 0
    for n in range(runs):
        result = simulate(rng, f"null{n}", users=300, effect=0.0, baseline=rng.uniform(0.2, 0.5))
        assert result.ci_low_pts is not None and result.ci_high_pts is not None
        assert result.exposed.n + result.holdout.n <= 300  # each user counted once at most
        covered += result.ci_low_pts <= 0 <= result.ci_high_pts
    assert 0.93 * runs <= covered <= 0.97 * runs, f"covered 0 in {covered} of {runs}"


def test_a_five_point_effect_at_two_thousand_per_arm_is_found() -> None:
    rng = random.Random(5)
    runs = 10
    verdicts = Counter(
        simulate(rng, f"real{n}", 4000, effect=0.05, baseline=rng.uniform(0.1, 0.4)).verdict
        for n in range(runs)
    )
    assert verdicts["helps"] >= 0.8 * runs, verdicts
