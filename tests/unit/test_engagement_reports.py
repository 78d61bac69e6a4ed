"""Campaign reports from the counters: rates, lift, guard rails, sunset; empty periods and
campaigns without sends give n/a, never a crash or a NaN; the CLI prints every shape."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from nudge.clock import ManualClock, to_epoch
from nudge.domain.config import AnalyticsConfig
from nudge.domain.engagement.attribution import OTHER_MESSAGES, UNATTRIBUTED
from nudge.domain.engagement.counters import counter_name
from nudge.models.campaign import CampaignSet
from nudge.services.engagement.reports import ReportsService, UnknownCampaign
from nudge_cli import printers
from nudge_cli import reports as report_commands
from nudge_cli.main import main
from tests.fakes.memory import InMemoryCampaignCatalog, InMemoryProfileStore
from tests.unit.test_campaign_pipeline import campaign

CONFIG = AnalyticsConfig(min_sample=100, min_lift_group=50)


def service(clock: ManualClock, **campaigns: dict[str, Any]) -> ReportsService:
    published = {
        cid: campaign(
            f"id: {cid}\ntrigger: {{event: {{name: signup}}}}",
            variants=[
                {"id": "a", "title": "Hi", "body": "Hello"},
                {"id": "b", "title": "Hi", "body": "Hello", "image": "https://img.test/b.png"},
            ],
            **extra,
        )
        for cid, extra in campaigns.items()
    }
    catalog = InMemoryCampaignCatalog(CampaignSet(campaigns=published))
    return ReportsService(InMemoryProfileStore(), clock, catalog, CONFIG)


def count(reports: ReportsService, cid: str, at: int, **fields: int) -> None:
    assert isinstance(reports.profiles, InMemoryProfileStore)
    reports.profiles.named_counters[counter_name(cid, at)].update(
        {k.replace("__", "."): v for k, v in fields.items()}
    )


def no_nan(report: dict[str, Any]) -> dict[str, Any]:
    json.dumps(report, allow_nan=False)  # raises on NaN or infinity
    return report


def test_an_empty_period_and_a_campaign_without_sends_give_n_a(clock: ManualClock) -> None:
    reports = service(clock, quiet={})
    report = no_nan(reports.campaigns(30))
    row = report["campaigns"]["quiet"]
    assert row["sent"] == 0 and row["open_rate"]["pct"] is None
    assert row["open_rate"]["label"] == "n/a (none yet)"
    assert row["lift"]["verdict"] == "not_enough_data"
    one = no_nan(reports.campaign("quiet", 30))
    assert [step["count"] for step in one["funnel"]] == [0, 0, 0, 0, 0]
    assert one["guard_rail"] is None and one["opt_outs_by_kind"] == {}
    sunset = no_nan(reports.sunset(7))
    assert sunset["summary"] == "n/a: nothing delivered in this period"
    assert sunset["candidates"] == [] and sunset["not_judged"] == []
    assert no_nan(ReportsService(InMemoryProfileStore(), clock).campaigns(7))["campaigns"] == {}


def test_rates_lift_and_guard_rails_of_a_campaign(clock: ManualClock) -> None:
    reports = service(clock, welcome={"holdout_pct": 10}, tips={})
    now = to_epoch(clock.now())
    count(
        reports, "welcome", now, targeted=500, sent__a=200, sent__b=200, holdout=100,
        converted__a=40, converted__b=40, converted__holdout=5, delivered__a=190,
        delivered__b=190, opened__a=50, opened__b=19, failed__a__UNREGISTERED=10,
        failed__b__UNREGISTERED=10, opt_out__b__category=12, opt_out__a__permission=1,
        suppressed__consent=7,
    )  # fmt: skip
    count(reports, "tips", now - 86_400, sent__a=300, delivered__a=300, opened__a=90)
    count(reports, UNATTRIBUTED, now, **{"opt_out__marketing__category": 2})
    before_others = reports.campaigns(30)
    count(reports, OTHER_MESSAGES, now, **{"opt_out__product_updates__permission": 3})
    report = no_nan(reports.campaigns(30))
    # opt-outs after a broadcast or transactional message: apart, and out of the baselines
    assert report["other_message_opt_outs"] == {"opt_out": 3, "opt_out.permission": 3}
    assert report["campaigns"] == before_others["campaigns"]
    assert report["formats"] == before_others["formats"]
    welcome = report["campaigns"]["welcome"]
    assert welcome["delivered"] == 380 and welcome["opened"] == 69
    assert welcome["open_rate"]["pct"] == pytest.approx(18.16, abs=0.01)
    assert welcome["opt_outs_by_kind"] == {"category": 12, "permission": 1}
    assert welcome["failures"] == {"UNREGISTERED": 20}
    assert welcome["variants"]["b"]["opt_outs"] == 12
    assert welcome["lift"]["verdict"] == "helps"  # 20 % vs 5 %
    assert welcome["guard_rail"]["enough_sample"] is True
    assert welcome["guard_rail"]["opt_out_vs_baseline_pts"] > 0
    assert set(report["formats"]) == {"rich", "text"}
    assert report["unattributed_opt_outs"] == {"opt_out": 2, "opt_out.category": 2}
    one = no_nan(reports.campaign("welcome", 30))
    assert [s["count"] for s in one["funnel"]] == [500, 400, 380, 69, 80]
    assert one["formats"] == {"a": "text", "b": "rich"}
    assert one["lift"]["ci_low_pts"] > 0 and "significant" in one["lift"]["label"]
    assert one["daily"][-1] == {
        "day": one["until"], "sent": 400, "delivered": 380, "opened": 69, "opt_out": 13
    }  # fmt: skip
    # the list has each campaign's days too (the console's sparklines), the same as its page
    assert welcome["daily"] == one["daily"]
    assert [d["sent"] for d in report["campaigns"]["tips"]["daily"][-2:]] == [300, 0]
    assert len(welcome["daily"]) == 30 and sum(d["sent"] for d in welcome["daily"]) == 400
    # a day outside the period is left out
    assert reports.campaigns(1)["campaigns"]["tips"]["sent"] == 0
    sunset = no_nan(reports.sunset(7))
    assert [(c["kind"], c["key"]) for c in sunset["candidates"]][:1] == [("format", "rich")]
    assert "baseline" in sunset["candidates"][0]["evidence"]
    with pytest.raises(UnknownCampaign, match="campaign_id"):
        reports.campaign("nope", 30)


def test_conversions_cut_from_their_sends_stay_finite(clock: ManualClock) -> None:
    reports = service(clock, welcome={"holdout_pct": 10})
    count(reports, "welcome", to_epoch(clock.now()), converted__a=5, converted__holdout=3)
    row = no_nan(reports.campaigns(1))["campaigns"]["welcome"]
    assert row["lift"]["verdict"] == "not_enough_data"


# --- the CLI ---------------------------------------------------------------------------------


def test_since_is_parsed_or_refused_by_name() -> None:
    assert report_commands.parse_days("30d") == 30 and report_commands.parse_days("7") == 7
    for bad in ("0d", "thirty", "-3d", "401d"):
        with pytest.raises(SystemExit, match="--since"):
            report_commands.parse_days(bad)


@pytest.mark.parametrize("filled", [False, True])
def test_the_terminal_tables_print_every_report(
    clock: ManualClock, filled: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = service(clock, welcome={"holdout_pct": 10})
    if filled:
        count(
            reports, "welcome", to_epoch(clock.now()), targeted=300, sent__a=250, holdout=20,
            delivered__a=240, opened__a=30, opt_out__a__category=9, suppressed__cap=4,
        )  # fmt: skip
        count(reports, OTHER_MESSAGES, to_epoch(clock.now()), opt_out__marketing__category=2)
    printers.print_campaigns(reports.campaigns(30))
    printers.print_engagement(reports.campaigns(30))
    printers.print_campaign(reports.campaign("welcome", 30))
    printers.print_sunset(reports.sunset(7))
    out = capsys.readouterr().out
    assert "nan" not in out.lower()
    assert "Funnel" in out and "Lift (conversion, exposed vs holdout)" in out
    assert "Sunset advice" in out
    if filled:
        assert "cap" in out and "category" in out
        assert "opt-outs after a broadcast or transactional message: 2" in out


def test_report_commands_call_the_admin_api(
    monkeypatch: pytest.MonkeyPatch, clock: ManualClock, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = service(clock, welcome={})
    calls: list[str] = []

    def fake_call(args: Any, method: str, path: str, body: Any = None) -> Any:
        calls.append(path)
        if path.startswith("/admin/v1/reports/campaigns/"):
            return reports.campaign("welcome", 30)
        if path.startswith("/admin/v1/reports/sunset"):
            return reports.sunset(7)
        return reports.campaigns(30)

    monkeypatch.setattr(report_commands, "admin_call", fake_call)
    assert main(["report", "campaigns", "--since", "30d"]) == 0
    assert main(["report", "campaign", "welcome", "--since", "14d"]) == 0
    assert main(["report", "sunset"]) == 0
    assert calls == [
        "/admin/v1/reports/campaigns?days=30",
        "/admin/v1/reports/campaigns/welcome?days=14",
        "/admin/v1/reports/sunset?days=7",
    ]
    assert "Campaign welcome" in capsys.readouterr().out
    clock.advance(timedelta(days=1))
