"""The regional model recomputed from the breakdown counters on the tick, published beside the
campaign catalog, and read by the pipeline's campaign decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from nudge.clock import ManualClock
from nudge.domain.campaigns.decide import Candidate, Context, decide
from nudge.domain.config import RegionalModelConfig
from nudge.domain.engagement import breakdown
from nudge.domain.engagement.regional_model import view_of
from nudge.models.campaign import Campaign
from nudge.models.profile import Attribute, Profile
from nudge.services.configs.store import ConfigStore
from nudge.services.engagement.regional_model import RegionalModelService, UnknownCategory
from tests.fakes.breakdown import InMemoryBreakdownCounters
from tests.fakes.memory import InMemoryConfigTable, InMemoryProfileStore

START = datetime(2026, 5, 31, 9, 0, tzinfo=UTC)
DAY = 86_400
RATES = {"NL": 0.16, "BE": 0.10, "DE": 0.10, "FR": 0.10, "ES": 0.04}


def campaign(cid: str, category: str = "marketing", **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "name": cid,
        "status": "active",
        "category": category,
        "trigger": {"event": {"name": "browse"}},
        "variants": [{"id": "a", "title": "T", "body": "B"}],
        **extra,
    }


@pytest.fixture
def world() -> tuple[RegionalModelService, ConfigStore, InMemoryProfileStore, ManualClock]:
    clock = ManualClock(START)
    store = ConfigStore(InMemoryConfigTable(), clock, cache_ttl_s=0)
    for data in (campaign("spring"), campaign("summer"), campaign("receipt", "transactional")):
        store.publish("campaign", data["id"], data["id"], data, "active", "test")
    profiles = InMemoryProfileStore()
    rng = np.random.default_rng(1)
    today = int(START.timestamp()) // DAY
    for day in range(today - 20, today + 1):  # today's partial day is left out of the window
        for country, rate in RATES.items():
            cell = breakdown.ResponseCell(country, "", "", "active", "ios").key()
            for cid in ("spring", "summer"):
                sends = int(rng.integers(150, 250))
                converted = int(rng.binomial(sends, rate))
                name = breakdown.counter_name(cid, day * DAY + 60, cell)
                profiles.add_counters({name: {"s": sends, "c": converted, "o": 2 * converted}})
    config = RegionalModelConfig(window_days=30, every_hours=24)
    service = RegionalModelService(InMemoryBreakdownCounters(profiles), store, store, clock, config)
    return service, store, profiles, clock


def test_the_tick_publishes_the_model_once_per_period_for_the_pipeline(world: Any) -> None:
    service, store, _, clock = world
    assert store.current().response_model is None
    model = service.run()
    assert model is not None and model.until == "2026-05-30"
    assert set(model.categories) == {"marketing"}  # the receipts sent nothing
    published = store.current().response_model
    assert published == model  # read with the campaign catalog, in the same BatchGetItem
    conversion = published.predictions("marketing", "conversion")
    assert conversion is not None and conversion.ranked[0] == "NL"
    assert conversion.ranked[-1] == "ES"
    revision = store.catalog("response_model", fresh=True).revision
    clock.advance(timedelta(hours=6))
    assert service.run() is None  # within every_hours: nothing read, nothing written
    assert store.catalog("response_model", fresh=True).revision == revision
    clock.advance(timedelta(hours=19))
    assert service.run() is not None
    assert store.catalog("response_model", fresh=True).revision == revision + 1


def test_a_campaign_targets_by_the_published_model(world: Any) -> None:
    service, store, _, _ = world
    service.run()
    target = Campaign.model_validate(
        campaign(
            "local",
            audience={
                "top_regions": {"category": "marketing", "metric": "conversion", "share": 0.2}
            },
        )
    )
    now = int(START.timestamp())

    def decided(country: str, published_model: Any) -> tuple[str, str | None]:
        profile = Profile(user_id=country, attributes={"country": Attribute(value=country, at=0)})
        ctx = Context(
            now=now,
            zone="Europe/Amsterdam",
            caps={},
            named={},
            consent=lambda: {"marketing": True},
            response=view_of(published_model),
        )
        decision = decide(Candidate(target, "k", now, {}), profile, ctx)
        audience = [rule for rule in decision.rules if rule.name == "audience"]
        return decision.reason or "", audience[0].detail if audience else None

    published_model = store.current().response_model
    assert decided("NL", published_model)[0] != "audience"
    reason, detail = decided("ES", published_model)
    assert reason == "audience" and detail is not None and detail.startswith("ES predicted")
    assert decided("NL", None) == ("audience", "no regional response model published yet")


def test_the_report_lists_better_and_worse_regions_with_intervals(world: Any) -> None:
    service, *_ = world
    report = service.report("marketing", "conversion")
    conversion = report["metrics"]["conversion"]
    assert [r["region"] for r in conversion["better"]] == ["NL"]
    assert [r["region"] for r in conversion["worse"]] == ["ES"]
    for row in conversion["regions"]:
        assert row["low"] <= row["predicted"] <= row["high"]
    with pytest.raises(UnknownCategory, match="category"):
        service.report("internal")
    with pytest.raises(ValueError, match="metric"):
        service.report("marketing", "clicks")
