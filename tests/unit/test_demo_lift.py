"""`make demo` measures a real, planted effect: the station-departures example keeps a holdout
and two texts, and the demo's riders buy the ride home more often after its push (more so
after the text offering the ticket); holdout riders, who get no push, do not."""

from __future__ import annotations

import random
from pathlib import Path

from nudge.configfiles import load_config
from nudge.models.campaign import Campaign
from nudge_local.demo_town import RIDE_HOME, User, ride_home

EXAMPLE = Path(__file__).resolve().parents[2] / "events/campaigns/station-departures.yaml"


def test_the_departures_example_is_an_experiment_with_a_holdout_and_two_texts() -> None:
    campaign = load_config(EXAMPLE.read_text(), Campaign, str(EXAMPLE))
    assert campaign.holdout_pct >= 20 and campaign.auto_promote
    assert [v.id for v in campaign.variants] == sorted(RIDE_HOME)
    assert campaign.goal is not None and campaign.goal.event == "ticket_purchased"


def rides(variant: str | None, trials: int = 4000) -> float:
    rng = random.Random(7)
    user = User("u", "commuter", set(), (8, 19))
    sold = 0
    for _ in range(trials):
        user.departures_variant = variant
        events = ride_home(user, "2026-03-02T18:54:00+00:00", rng)
        assert user.departures_variant is None  # one push sells at most one ticket
        assert all(e["name"] == "ticket_purchased" for e in events)
        sold += len(events)
    return sold / trials


def test_a_push_sells_the_ride_home_and_no_push_sells_nothing() -> None:
    assert rides(None) == 0.0  # the holdout: no push, no extra purchase
    live, ticket = rides("live"), rides("ticket")
    assert abs(live - RIDE_HOME["live"]) < 0.03 and abs(ticket - RIDE_HOME["ticket"]) < 0.03
    assert ticket - live > 0.2  # a difference the variant comparison can see at demo scale
