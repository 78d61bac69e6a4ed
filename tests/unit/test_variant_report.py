"""The campaign report (admin API shape and the CLI) compares variant against variant."""

from __future__ import annotations

import pytest

from nudge.api.admin_models import CampaignReport
from nudge.clock import ManualClock, to_epoch
from nudge_cli import printers
from tests.unit.test_engagement_reports import count, no_nan, service


def test_the_campaign_report_names_a_clear_winner_and_the_cli_prints_it(
    clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = service(clock, welcome={"holdout_pct": 10})
    now = to_epoch(clock.now())
    count(reports, "welcome", now, sent__a=1000, sent__b=1000, converted__a=80, converted__b=160)
    report = no_nan(reports.campaign("welcome", 30))
    CampaignReport.model_validate(report)  # the admin OpenAPI shape
    comparison = report["variant_comparison"]
    assert comparison["winner"] == "b"
    assert "Newcombe" in comparison["method"] and "Bonferroni" in comparison["method"]
    (pair,) = comparison["pairs"]
    assert (pair["a"], pair["b"], pair["diff_pts"], pair["verdict"]) == ("a", "b", -8.0, "b_better")
    assert pair["ci_high_pts"] < 0
    printers.print_campaign(report)
    out = capsys.readouterr().out
    assert "Variant against variant" in out and "b converts best" in out
    assert "a vs b" in out and "-8.0 pts" in out


def test_within_noise_no_winner_is_named(clock: ManualClock) -> None:
    reports = service(clock, welcome={})
    now = to_epoch(clock.now())
    count(reports, "welcome", now, sent__a=1000, sent__b=1000, converted__a=100, converted__b=110)
    comparison = no_nan(reports.campaign("welcome", 30))["variant_comparison"]
    assert comparison["winner"] is None and comparison["label"] == "no clear winner yet"
