"""The campaigns report carries each campaign's variant comparison (and auto_promote's
promotion), so `nudge report html` (the demo's report) shows variant against variant."""

from __future__ import annotations

from typing import Any

from nudge.api.admin_models import CampaignsReport
from nudge.clock import ManualClock, to_epoch
from nudge_cli.report_html import build_html
from tests.unit.test_engagement_reports import count, no_nan, service
from tests.unit.test_report_html import fake_admin


def test_the_campaigns_report_compares_variants_per_campaign(clock: ManualClock) -> None:
    reports = service(clock, welcome={"holdout_pct": 10}, tips={})
    now = to_epoch(clock.now())
    count(reports, "welcome", now, sent__a=1000, sent__b=1000, converted__a=80, converted__b=160)
    report = no_nan(reports.campaigns(30))
    CampaignsReport.model_validate(report)  # the admin OpenAPI shape
    welcome = report["campaigns"]["welcome"]
    assert welcome["variant_comparison"]["winner"] == "b"
    assert welcome["promotion"] is None
    assert report["campaigns"]["tips"]["variant_comparison"]["winner"] is None


def test_the_html_report_has_a_variant_against_variant_table(clock: ManualClock) -> None:
    fetch: Any = fake_admin(clock, True)
    text = build_html(fetch, 30)
    assert "<h2>Variant against variant</h2>" in text
    # welcome: a sent 300, b nothing yet -> the pair is listed, not judged
    assert "<td>welcome</td><td>a vs b</td>" in text
    assert "not enough data yet" in text
