"""`nudge report regions`: the breakdown service's answer printed as a ranked table, every
rate with its interval, small cells apart as "too little data"; bad input named."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from nudge.clock import ManualClock, to_epoch
from nudge.domain.config import AnalyticsConfig
from nudge.domain.engagement.breakdown import ResponseCell, counter_name, increments
from nudge.models.campaign import CampaignSet
from nudge.services.engagement.breakdown import BreakdownService, UnknownCategory
from nudge_cli import region_report
from nudge_cli.main import main
from tests.fakes.breakdown import InMemoryBreakdownCounters
from tests.fakes.memory import InMemoryCampaignCatalog
from tests.unit.test_campaign_pipeline import WELCOME, campaign


def fill_cells(
    service: BreakdownService, campaign_id: str, at: int, country: str, sent: int, converted: int
) -> None:
    """Cells as the pipeline writes them: `sent` sends in the country, `converted` of them."""
    cell = ResponseCell(country, stage="active", platform="ios").key()
    fields: Counter[str] = Counter()
    for metric, times in (("sent", sent), ("converted", converted)):
        for field, amount in increments(cell, metric).items():
            fields[field] += amount * times
    store = service.counters.profiles  # type: ignore[attr-defined]
    store.add_counters({counter_name(campaign_id, at, cell): fields})


def service(clock: ManualClock) -> BreakdownService:
    counters = InMemoryBreakdownCounters()
    now = to_epoch(clock.now())
    catalog = InMemoryCampaignCatalog(CampaignSet(campaigns={"welcome": campaign(WELCOME)}))
    result = BreakdownService(counters, catalog, clock, AnalyticsConfig(min_breakdown_group=30))
    for country, sent, converted in (("NL", 200, 40), ("BE", 200, 10), ("LU", 9, 9)):
        fill_cells(result, "welcome", now, country, sent, converted)
    return result


def test_regions_prints_a_ranked_table_with_intervals_and_marks_small_cells(
    monkeypatch: pytest.MonkeyPatch, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    breakdown = service(clock)
    calls: list[str] = []

    def fake_call(args: Any, method: str, path: str, body: Any = None) -> Any:
        calls.append(path)
        if "/categories/" in path:
            return breakdown.category("marketing", "country", 7)
        return breakdown.campaign("welcome", "country", 7)

    monkeypatch.setattr(region_report, "admin_call", fake_call)
    assert main(["report", "regions", "welcome", "--since", "7d"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    nl = next(line for line in lines if line.strip().startswith("1  NL"))
    assert "20.0% (15.1-26.1)" in nl  # 40 of 200 with its Wilson interval
    assert next(line for line in lines if line.strip().startswith("2  BE"))
    small = lines[lines.index("too little data (not ranked):") + 1]
    assert "LU" in small and "100" not in small  # LU's 9 of 9: no rate shown, not ranked
    assert main(["report", "regions", "--category", "marketing", "--by", "country"]) == 0
    assert "category marketing (welcome)" in capsys.readouterr().out
    assert calls == [
        "/admin/v1/reports/campaigns/welcome/breakdown?by=country&days=7&rank_by=conversion",
        "/admin/v1/reports/categories/marketing/breakdown?by=country&days=30&rank_by=conversion",
    ]


def test_bad_input_is_named(clock: ManualClock) -> None:
    with pytest.raises(SystemExit, match="CAMPAIGN or --category"):
        main(["report", "regions"])
    with pytest.raises(SystemExit, match="--since"):
        main(["report", "regions", "welcome", "--since", "forever"])
    with pytest.raises(ValueError, match="by: one of"):
        service(clock).campaign("welcome", "galaxy", 7)
    with pytest.raises(UnknownCategory, match="category"):
        service(clock).category("nope", "country", 7)
