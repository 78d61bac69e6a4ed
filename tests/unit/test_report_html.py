"""`nudge report html`: a self-contained HTML with every chart, from a fake admin client
serving the real report services over in-memory stores."""

from __future__ import annotations

import builtins
import re
from pathlib import Path
from typing import Any

import pytest

from nudge.clock import ManualClock, to_epoch
from nudge.services.engagement.breakdown import BreakdownService
from nudge_cli import reports as report_commands
from nudge_cli.main import main
from nudge_cli.report_html import ChartsUnavailable, build_html, lifecycle_points
from tests.fakes.breakdown import InMemoryBreakdownCounters
from tests.unit.test_engagement_reports import count, service
from tests.unit.test_region_report import fill_cells

TITLES = (
    "Sends, opens and opt-outs over time",
    "Funnel per campaign",
    "Lift with 95% intervals",
    "Conversion by country",
    "Lifecycle distribution over time",
    "NPS trend",
)


def fake_admin(clock: ManualClock, filled: bool) -> Any:
    reports = service(clock, welcome={"holdout_pct": 10}, tips={})
    breakdown = BreakdownService(InMemoryBreakdownCounters(), reports.catalog, clock)
    if filled:
        now = to_epoch(clock.now())
        count(
            reports, "welcome", now, targeted=400, sent__a=300, holdout=100, delivered__a=290,
            opened__a=60, converted__a=60, converted__holdout=5, opt_out__a__category=4,
        )  # fmt: skip
        count(reports, "tips", now - 3 * 86_400, targeted=50, sent__b=50, delivered__b=50)
        for country, sent, converted in (("NL", 200, 50), ("BE", 100, 10), ("LU", 5, 1)):
            fill_cells(breakdown, "welcome", now, country, sent, converted)
    lifecycle = {
        "stages": {"new": 10, "active": 5, "at_risk": 2} if filled else {},
        "transitions": {"new->active": 4, "active->at_risk": 2} if filled else {},
    }
    fix_first = [
        {"theme": "crashes, login", "impact": 2.6, "ci_low": 2.1, "ci_high": 3.1,
         "verdict": "fix first", "share": 0.46, "quotes": ["Crashes at login every morning"]},
        {"theme": "dark mode", "impact": None, "ci_low": None, "ci_high": None,
         "verdict": "too few to rank", "share": 0.02, "quotes": []},
    ]  # fmt: skip
    nps = {
        "themes": {"priorities": {"fix_first": fix_first if filled else [], "praised": []}},
        "trend": [
            {"period": "2026-W08", "nps": 20.0, "n": 40, "ci_low": 5.0, "ci_high": 35.0},
            {"period": "2026-W09", "nps": None, "n": 0, "ci_low": None, "ci_high": None},
        ]
        if filled
        else [],
    }
    calls: list[str] = []

    def fetch(path: str) -> Any:
        calls.append(path)
        days = int(re.search(r"days=(\d+)", path).group(1)) if "days=" in path else 30  # type: ignore[union-attr]
        if path.startswith("/admin/v1/reports/engagement"):
            return reports.engagement_daily(days)
        if path.startswith("/admin/v1/reports/categories/"):
            category = path.split("/")[5]
            return breakdown.category(category, "country", days)
        if path.startswith("/admin/v1/reports/campaigns"):
            return reports.campaigns(days)
        if path.startswith("/admin/v1/reports/sunset"):
            return reports.sunset(days)
        if path.startswith("/admin/v1/reports/lifecycle"):
            return lifecycle
        if path == "/admin/v1/surveys":
            return {"surveys": [{"id": "nps-main", "status": "active"}]}
        if path.startswith("/admin/v1/reports/nps/nps-main"):
            return nps
        raise AssertionError(path)

    fetch.calls = calls  # type: ignore[attr-defined]
    return fetch


@pytest.mark.parametrize("filled", [True, False], ids=["with-data", "empty"])
def test_the_html_report_holds_every_chart_inline(clock: ManualClock, filled: bool) -> None:
    fetch = fake_admin(clock, filled)
    text = build_html(fetch, 30)
    for title in TITLES:
        assert f"<h2>{title}</h2>" in text and f'alt="{title}"' in text
    assert text.count("data:image/png;base64,") == len(TITLES)
    assert "http://" not in text and "https://" not in text  # self-contained
    words = re.sub(r"data:image/png;base64,[^\"]+", "", text)
    assert not re.search(r"\bnan\b", words, re.IGNORECASE)
    assert "<h2>Survey themes to fix first</h2>" in text
    if filled:  # ranked themes only, with the detractors' words
        assert "<td>crashes, login</td><td>2.60 [2.10, 3.10]</td><td>fix first</td>" in text
        assert "Crashes at login every morning" in text and "dark mode" not in text
    else:
        assert "No theme has enough comments to rank yet." in text
    if filled:
        assert "welcome" in text and "significant" in text
        assert "/admin/v1/reports/categories/marketing/breakdown?by=country&days=30" in " ".join(
            fetch.calls
        )
    else:
        assert "No campaigns published" not in text  # two campaigns, nothing sent


def test_lifecycle_is_rolled_back_by_the_moves(clock: ManualClock) -> None:
    points = lifecycle_points(fake_admin(clock, True), 14)
    assert [back for back, _ in points] == [14, 7, 0]
    assert points[-1][1]["active"] == 5 and points[0][1]["active"] == 5 - 4 + 2
    assert points[0][1]["new"] == 14 and points[0][1]["at_risk"] == 0


def test_the_command_writes_the_file(
    clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetch = fake_admin(clock, True)
    monkeypatch.setattr(
        report_commands, "admin_call", lambda args, method, path, body=None: fetch(path)
    )
    out = tmp_path / "report.html"
    assert main(["report", "html", "--out", str(out), "--since", "14d"]) == 0
    assert out.read_text().startswith("<!doctype html>")
    assert "/admin/v1/reports/campaigns?days=14" in fetch.calls


def test_without_matplotlib_the_error_names_the_extra(
    clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ChartsUnavailable, match=r"nudge\[charts\]"):
        build_html(fake_admin(clock, True), 30)
