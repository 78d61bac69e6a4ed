"""The sunset page over fakes: the advice with its evidence, the empty state, the period."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.console.conftest import Console

DATA = Path(__file__).parent / "data"
NO_ADVICE = json.loads((DATA / "sunset_report.json").read_text())  # the demo's: too little data


def rate(count: int, n: int) -> dict[str, Any]:
    pct = round(100 * count / n, 2)
    return {"count": count, "n": n, "pct": pct, "ci_pct": [pct - 2, pct + 2],
            "label": f"{pct:.1f}% ({count} of {n})"}  # fmt: skip


def advice() -> dict[str, Any]:
    """The report's shape when it advises (services/engagement/reports.py `sunset`)."""
    return {
        **NO_ADVICE,
        "summary": "2 sunset candidates (1 not judged: fewer than 200 delivered)",
        "candidates": [
            {"kind": "campaign", "key": "weekly-digest", "open_rate": rate(31, 410),
             "opt_out_rate": rate(12, 410), "baseline_open": rate(288, 673),
             "baseline_opt_out": rate(3, 673), "open_shortfall_pts": 35.23,
             "opt_out_excess_pts": 2.48,
             "evidence": "opens 7.6% (31 of 410) vs 42.8% (288 of 673) baseline; "
                         "opt-outs 2.9% (12 of 410) vs 0.4% (3 of 673) baseline"},
            {"kind": "format", "key": "image", "open_rate": rate(40, 300),
             "opt_out_rate": rate(5, 300), "baseline_open": rate(288, 673),
             "baseline_opt_out": rate(3, 673), "open_shortfall_pts": 29.46,
             "opt_out_excess_pts": 1.22, "evidence": "opens 13.3% (40 of 300) vs ..."},
        ],
        "not_judged": [{"kind": "campaign", "key": "winback", "delivered": 19}],
    }  # fmt: skip


def test_the_advice_with_its_evidence_worst_first(console: Console) -> None:
    console.admin.on("GET", "/admin/v1/reports/sunset", advice())
    page = console.page("/console/sunset")
    assert 'data-testid="summary">2 sunset candidates' in page
    assert page.count('data-testid="candidate-row"') == 2
    assert page.index('data-key="weekly-digest"') < page.index('data-key="image"')
    assert '<a href="/console/campaigns/weekly-digest">weekly-digest</a>' in page
    assert "image messages" in page
    assert "7.6% (31 of 410)" in page and "baseline 42.8% (288 of 673)" in page
    assert 'data-sort="35.23">+35.2<' in page and 'data-sort="2.48">+2.48<' in page
    assert "opt-outs 2.9% (12 of 410) vs 0.4% (3 of 673) baseline" in page
    assert "Last 31 days: 2026-03-02 to 2026-04-01 UTC." in page
    assert 'data-testid="not-judged-row"' in page
    assert console.admin.calls == [("GET", "/admin/v1/reports/sunset", None, {"days": "7"})]


def test_no_advice_is_an_empty_state_that_says_what_to_do(console: Console) -> None:
    console.admin.on("GET", "/admin/v1/reports/sunset", NO_ADVICE)
    page = console.page("/console/sunset")
    assert 'data-testid="empty"' in page and "longer period" in page
    assert 'data-testid="candidates"' not in page
    assert page.count('data-testid="not-judged-row"') == 4
    assert "no sunset candidates (4 not judged" in page


def test_nothing_delivered(console: Console) -> None:
    report = {**NO_ADVICE, "summary": "n/a: nothing delivered in this period", "not_judged": []}
    console.admin.on("GET", "/admin/v1/reports/sunset", report)
    page = console.page("/console/sunset")
    assert "n/a: nothing delivered in this period" in page and 'data-testid="empty"' in page
    assert 'data-testid="not-judged"' not in page


@pytest.mark.parametrize("days", ["30", "90"])
def test_the_period_is_passed_on(console: Console, days: str) -> None:
    console.admin.on("GET", "/admin/v1/reports/sunset", NO_ADVICE)
    page = console.page(f"/console/sunset?days={days}", role="privacy")
    assert f'id="days-{days}" href="/console/sunset?days={days}" aria-current="true"' in page
    assert console.admin.calls[0][3] == {"days": days}


def test_a_bad_period_is_a_clear_error(console: Console) -> None:
    answer = console.request("GET", "/console/sunset?days=400")
    assert answer["statusCode"] == 400 and "days: one of 7, 30, 90" in answer["body"]
    assert console.admin.calls == []


def test_a_failing_report_is_an_error_page_not_a_500(console: Console) -> None:
    console.admin.on("GET", "/admin/v1/reports/sunset", {"message": "boom"}, 500)
    answer = console.request("GET", "/console/sunset")
    assert answer["statusCode"] == 502 and "boom" in answer["body"]
