"""The regional response model: how long the scheduler tick's read-and-fit takes for the
counters 1M users' sends leave over 30 days.

What is modelled: 1M users in 200 countries (a long tail: country sizes fall off as 1/rank),
each country with up to 8 regions, 4 lifecycle stages and 2 platforms; 4 marketing campaigns
over 30 days. A cell counter exists for a (campaign, day, country, region, stage, platform)
only where some user was sent to that day: ~0.3 marketing sends per user per day, spread by
the cells' population, so the small countries' cells are sparse. Conversions at ~10 % with
three planted countries at +5 points. The read is the BreakdownCounters port over the
in-memory fake (the adapter's parse-and-tally of every cell item; DynamoDB's own Query time
is left out and its read units estimated from the items' sizes instead), the fit is
domain/engagement/regional_model.py for every metric at the country and at the region level.

`run_regional_bench()` returns the lines; `python -m tests.bench.regional` prints them.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from typing import Any

from nudge.clock import ManualClock
from nudge.domain.config import RegionalModelConfig
from nudge.domain.engagement.breakdown import ResponseCell, counter_name
from nudge.domain.engagement.regional_model import fit_categories
from nudge.models.response_model import RegionLevel
from nudge.services.configs.store import ConfigStore
from nudge.services.engagement.regional_model import RegionalModelService
from tests.fakes.breakdown import InMemoryBreakdownCounters
from tests.fakes.memory import InMemoryConfigTable

USERS = 1_000_000
DAYS = 30
COUNTRIES = 200
CAMPAIGNS = ("spring", "summer", "autumn", "winter")
SENDS_PER_USER_DAY = 0.3
STAGES = ("new", "active", "at_risk", "loyal")
PLATFORMS = ("ios", "android")
START = datetime(2026, 6, 1, 3, 0, tzinfo=UTC)


def _country(i: int) -> str:
    return chr(65 + i // 26 % 26) + chr(65 + i % 26)


def synthesise(seed: int = 5) -> tuple[InMemoryBreakdownCounters, int, int]:
    """(the counters, cell items, sends) as 1M users' 30 days of marketing sends leave them."""
    rng = random.Random(seed)
    counters = InMemoryBreakdownCounters()
    named = counters.profiles.named_counters
    weights = [1 / (rank + 1) for rank in range(COUNTRIES)]
    total_weight = sum(weights)
    first_day = int(START.timestamp()) // 86_400 - DAYS
    items = sends_total = 0
    for index in range(COUNTRIES):
        country = _country(index)
        rate = 0.15 if index in (3, 17, 60) else 0.10
        users = USERS * weights[index] / total_weight
        regions = [f"{country}-r{r}" for r in range(1 + rng.randrange(8))]
        cells = [(r, s, p) for r in regions for s in STAGES for p in PLATFORMS]
        per_cell_day = users * SENDS_PER_USER_DAY / len(CAMPAIGNS) / len(cells)
        for day in range(first_day, first_day + DAYS):
            for campaign in CAMPAIGNS:
                for region, stage, platform in cells:
                    sends = int(per_cell_day) + (rng.random() < per_cell_day % 1)
                    if not sends:
                        continue
                    converted = sum(rng.random() < rate for _ in range(min(sends, 30)))
                    converted = round(converted * sends / min(sends, 30))
                    cell = ResponseCell(country, region, "", stage, platform).key()
                    named[counter_name(campaign, day * 86_400, cell)].update(
                        {"s": sends, "o": 2 * converted, "c": converted}
                    )
                    items += 1
                    sends_total += sends
    return counters, items, sends_total


def run_regional_bench() -> list[str]:
    started = time.perf_counter()
    counters, items, sends = synthesise()
    built = time.perf_counter() - started
    lines = [
        f"synthetic counters: {USERS:,} users in {COUNTRIES} countries, {len(CAMPAIGNS)} "
        f"campaigns x {DAYS} days -> {items:,} cell items, {sends:,} sends "
        f"(built in {built:.1f} s, not timed)",
    ]
    clock = ManualClock(START)
    store = ConfigStore(InMemoryConfigTable(), clock, cache_ttl_s=0)
    for campaign in CAMPAIGNS:
        data: dict[str, Any] = {
            "id": campaign,
            "name": campaign,
            "status": "active",
            "category": "marketing",
            "trigger": {"event": {"name": "browse"}},
            "variants": [{"id": "a", "title": "T", "body": "B"}],
        }
        store.publish("campaign", campaign, campaign, data, "active", "bench")
    config = RegionalModelConfig(window_days=DAYS)
    service = RegionalModelService(counters, store, store, clock, config)
    started = time.perf_counter()
    model = service.run()
    elapsed = time.perf_counter() - started
    assert model is not None
    conversion = model.predictions("marketing", "conversion")
    assert conversion is not None
    # the parts: the read (the port's parse and tally of every cell item) and the fit alone
    since, until = model.since, model.until
    started = time.perf_counter()
    cells = counters.cells(list(CAMPAIGNS), since, until)
    read = time.perf_counter() - started
    fits = {}
    levels: tuple[RegionLevel, ...] = ("country", "region")
    for level in levels:
        started = time.perf_counter()
        fits[level] = (fit_categories({"marketing": cells}, level), time.perf_counter() - started)
    regions = len(fits["region"][0]["marketing"]["conversion"].regions)
    item_bytes = 60 + 3 * 8  # key (partition + day#cell#shard) and three numeric fields
    read_units = items * item_bytes / 4_096  # a Query's pages, strongly consistent
    return [
        *lines,
        f"recompute on the tick (read + fit + publish, by country): {elapsed:.1f} s; "
        f"best for conversion: {', '.join(conversion.ranked[:3])} (planted: AD, AR, CI)",
        f"  of which reading the cells: {read:.1f} s (the port's parse and tally, ~"
        f"{1e6 * read / items:.0f} us an item); fitting 3 metrics: by country "
        f"{1000 * fits['country'][1]:.0f} ms ({COUNTRIES}), by region "
        f"{1000 * fits['region'][1]:.0f} ms ({regions:,} regions)",
        f"DynamoDB read (modelled, not run): ~{read_units:,.0f} read units per recompute "
        f"(~{item_bytes} B a cell item; more where a big cell's writes are sharded), once a "
        "day by default; nothing on the per-event path, no write per event or send",
    ]


if __name__ == "__main__":
    for line in run_regional_bench():
        print(line)
