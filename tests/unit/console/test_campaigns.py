"""Campaign pages over fakes: the list with totals and the pooled trend, one campaign's report,
pause/resume (confirmation, permission, the admin call, its refusal), bad input."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from nudge.console.admin_client import AdminAnswer
from tests.unit.console.conftest import Console

DATA = Path(__file__).parent / "data"
LISTED = json.loads((DATA / "campaigns_list.json").read_text())
REPORT = json.loads((DATA / "campaigns_report.json").read_text())
STATION = json.loads((DATA / "campaigns_station.json").read_text())
STATION_REPORT = json.loads((DATA / "campaigns_report_station.json").read_text())
ENGAGEMENT = json.loads((DATA / "campaigns_engagement.json").read_text())


def serve_list(console: Console) -> None:
    console.admin.on("GET", "/admin/v1/campaigns", LISTED)
    console.admin.on("GET", "/admin/v1/reports/campaigns", REPORT)
    console.admin.on("GET", "/admin/v1/reports/engagement", ENGAGEMENT)


def serve_station(console: Console, report: Any = STATION_REPORT, head: Any = STATION) -> None:
    console.admin.on("GET", "/admin/v1/campaigns/station-departures", head)
    console.admin.on("GET", "/admin/v1/reports/campaigns/station-departures", report)


def row_of(page: str, campaign_id: str) -> str:
    match = re.search(
        rf'<tr data-testid="campaign-row" data-campaign="{campaign_id}">.*?</tr>', page, re.S
    )
    assert match, campaign_id
    return match.group(0)


# ---------- the list ----------


def test_every_campaign_with_status_version_totals_and_the_window(console: Console) -> None:
    serve_list(console)
    page = console.page("/console/campaigns")
    assert page.count('data-testid="campaign-row"') == 6
    station = row_of(page, "station-departures")
    assert '<a href="/console/campaigns/station-departures" data-testid="campaign-link">' in station
    assert 'data-sort="403" data-testid="campaign-sent">403<' in station
    assert 'data-testid="campaign-opt-outs">2<' in station
    assert (
        '<span class="good" title="+40.0 pts, significant (95% CI +30.8 to +49.3)">'
        "+40.0 pts, helps<" in station
    )
    assert (
        'title="not enough data yet: 64 sent and 7 in the holdout; 100 needed in each">'
        "not enough data<" in row_of(page, "onboarding")
    )
    assert "Last 31 days: 2026-03-02 to 2026-04-01 UTC." in page
    # the window was asked for with the default 30 days
    reads = {(p, tuple(sorted((q or {}).items()))) for m, p, _, q in console.admin.calls}
    assert ("/admin/v1/reports/campaigns", (("days", "30"),)) in reads
    assert console.admin.changes() == []


def test_paused_and_not_loaded_campaigns_say_why(console: Console) -> None:
    serve_list(console)
    page = console.page("/console/campaigns")
    winback = row_of(page, "winback")
    assert '<span class="status paused" data-testid="campaign-status">paused</span>' in winback
    assert "auto-paused: opt-outs 2.1% vs 0.4% baseline" in winback
    broken = row_of(page, "broken-promo")
    assert (
        "campaigns/broken-promo.yaml:7: trigger: unknown trigger kind &#39;sometimes&#39;" in broken
    )
    assert "not loaded: fix the errors" in broken


def test_the_pooled_daily_trend_is_drawn_as_sparklines(console: Console) -> None:
    serve_list(console)
    page = console.page("/console/campaigns")
    trend = page.split('data-testid="trend"')[1].split("</section>")[0]
    assert trend.count('<svg class="spark"') == 3
    total_sent = sum(day["sent"] for day in ENGAGEMENT["daily"])
    assert f"{total_sent:,} sends" in trend


def test_marketers_get_pause_and_resume_links_viewers_only_the_status(console: Console) -> None:
    serve_list(console)
    marketer = console.page("/console/campaigns", role="marketer")
    assert (
        'href="/console/campaigns/station-departures/status?to=paused" data-testid="pause"'
        in marketer
    )
    assert 'href="/console/campaigns/winback/status?to=active" data-testid="resume"' in marketer
    assert 'data-testid="pause"' not in row_of(marketer, "broken-promo")
    viewer = console.page("/console/campaigns", role="viewer")
    assert 'data-testid="pause"' not in viewer and 'data-testid="resume"' not in viewer
    assert "needs the marketer role" in viewer


@pytest.mark.parametrize("days", ["7", "90"])
def test_the_period_is_passed_on(console: Console, days: str) -> None:
    serve_list(console)
    page = console.page(f"/console/campaigns?days={days}")
    assert f'id="days-{days}" href="/console/campaigns?days={days}" aria-current="true"' in page
    queries = [q for m, p, _, q in console.admin.calls if p.startswith("/admin/v1/reports/")]
    assert queries and all(q == {"days": days} for q in queries)
    assert f'/console/campaigns/station-departures?days={days}"' in page


@pytest.mark.parametrize("days", ["14", "x", "-1"])
def test_a_period_out_of_the_list_is_a_clear_error(console: Console, days: str) -> None:
    answer = console.request("GET", f"/console/campaigns?days={days}")
    assert answer["statusCode"] == 400
    assert "days: one of 7, 30, 90" in answer["body"]
    assert console.admin.calls == []


def test_no_campaigns_says_how_to_publish_one(console: Console) -> None:
    console.admin.on("GET", "/admin/v1/campaigns", {"campaigns": []})
    console.admin.on("GET", "/admin/v1/reports/campaigns", {**REPORT, "campaigns": {}})
    console.admin.on("GET", "/admin/v1/reports/engagement", {"daily": []})
    page = console.page("/console/campaigns")
    assert 'data-testid="empty"' in page and "nudge campaign push" in page
    assert 'data-testid="trend"' not in page


def test_a_failing_report_still_lists_the_campaigns(console: Console) -> None:
    console.admin.on("GET", "/admin/v1/campaigns", LISTED)
    console.admin.on("GET", "/admin/v1/reports/.*", {"message": "boom"}, 500)
    page = console.page("/console/campaigns")
    assert page.count('data-testid="campaign-row"') == 6
    assert 'data-testid="report-error"' in page and "boom" in page


# ---------- one campaign ----------


def test_a_campaigns_report(console: Console) -> None:
    serve_station(console)
    page = console.page("/console/campaigns/station-departures")
    assert 'id="campaign-status" data-testid="campaign-status">active<' in page
    assert '<strong id="campaign-version">1</strong>' in page
    assert "Last 31 days: 2026-03-02 to 2026-04-01 UTC." in page
    # funnel: numbers, share of the first step, bars
    assert re.search(r'data-step="sent"><td>sent</td><td class="num" data-sort="403">403</td>'
                     r'<td class="num" data-sort="32.7[0-9]*">32.7<', page)  # fmt: skip
    assert "Funnel, last 31 days" in page
    # against the baseline, and lift with its interval and verdict in words
    assert "53.8% (217 of 403)" in page and "42.8% (288 of 673)" in page and "+11.1" in page
    assert 'class="verdict good" data-testid="lift-verdict">+40.0 pts, significant' in page
    assert "difference +40.0 pts (95 % interval +30.8 to +49.3)" in page
    # suppressions by reason (largest first), variants with lift and the comparison
    suppressed = page.split('data-testid="suppressed"')[1]
    assert (
        suppressed.index("cooldown") < suppressed.index("send_window") < suppressed.index("expired")
    )
    assert 'data-variant="ticket"' in page and "+45.7 pts, significant" in page
    assert 'data-testid="variant-verdict">ticket converts best' in page
    # the daily chart and the promotion
    assert "Sends per day (UTC)" in page and "Opt-outs per day (UTC)" in page
    promotion = page.split('data-testid="promotion"')[1].split("</section>")[0]
    assert "every send goes to variant <strong>ticket</strong>" in promotion
    assert "2026-03-02 to 2026-03-16 UTC" in promotion
    assert ("GET", "/admin/v1/reports/campaigns/station-departures", None, {"days": "30"}) in (
        console.admin.calls
    )


def test_a_campaign_without_holdout_sends_or_promotion(console: Console) -> None:
    report = copy.deepcopy(STATION_REPORT)
    report.update(lift=None, variants={}, variant_lift={}, suppressed={}, promotion=None,
                  daily=[], guard_rail=None)  # fmt: skip
    head = {**STATION, "promotion": None}
    serve_station(console, report, head)
    page = console.page("/console/campaigns/station-departures")
    assert "set <code>holdout_pct</code>" in page
    assert "No variant has sent in this period." in page
    assert "Nothing was suppressed in this period." in page
    assert "This report has no daily series." in page
    assert 'data-testid="promotion"' not in page


def test_a_campaign_that_never_loaded_shows_its_errors(console: Console) -> None:
    head = {"id": "broken-promo", "status": "not loaded", "text": None, "versions": [],
            "promotion": None, "errors_sha256": "ab" * 32,
            "errors": [{"source": "campaigns/broken-promo.yaml", "line": 7, "field": "trigger",
                        "message": "unknown trigger kind"}]}  # fmt: skip
    console.admin.on("GET", "/admin/v1/campaigns/broken-promo", head)
    console.admin.on(
        "GET", "/admin/v1/reports/campaigns/broken-promo",
        {"message": "campaign_id: no published campaign 'broken-promo'"}, 404,
    )  # fmt: skip
    page = console.page("/console/campaigns/broken-promo")
    assert "campaigns/broken-promo.yaml:7: trigger: unknown trigger kind" in page
    assert 'data-testid="no-report"' in page and "no published campaign" in page


def test_an_unknown_campaign_is_a_404_page(console: Console) -> None:
    console.admin.on(
        "GET", "/admin/v1/campaigns/nope", {"message": "campaign_id: no campaign 'nope'"}, 404
    )
    answer = console.request("GET", "/console/campaigns/nope")
    assert answer["statusCode"] == 404
    assert "no campaign &#39;nope&#39;" in answer["body"]


def test_a_bad_campaign_id_is_refused_before_the_admin_api(console: Console) -> None:
    answer = console.request("GET", "/console/campaigns/%2E%2E%2Fsecrets")
    assert answer["statusCode"] in (400, 404)
    assert console.admin.calls == []


# ---------- pause / resume ----------


def test_the_confirmation_says_what_will_happen(console: Console) -> None:
    console.admin.on("GET", "/admin/v1/campaigns/station-departures", STATION)
    page = console.page("/console/campaigns/station-departures/status?to=paused", "marketer")
    assert "stops sending" in page
    assert '<form method="post" action="/console/campaigns/station-departures/status"' in page
    assert '<input type="hidden" name="status" value="paused">' in page
    assert console.admin.changes() == []


@pytest.mark.parametrize("role", ["viewer", "privacy"])
def test_only_marketers_may_pause(console: Console, role: str) -> None:
    console.admin.on("GET", "/admin/v1/campaigns/station-departures", STATION)
    confirm = console.request("GET", "/console/campaigns/station-departures/status?to=paused", role)
    assert confirm["statusCode"] == 403
    answer = console.request(
        "POST", "/console/campaigns/station-departures/status", role, form={"status": "paused"}
    )
    assert answer["statusCode"] == 403 and "campaigns pause" in answer["body"]
    assert console.admin.changes() == []


def test_a_pause_without_the_csrf_token_changes_nothing(console: Console) -> None:
    answer = console.request(
        "POST", "/console/campaigns/station-departures/status", "marketer",
        form={"status": "paused"}, csrf=False,
    )  # fmt: skip
    assert answer["statusCode"] == 403
    assert console.admin.changes() == []


@pytest.mark.parametrize(("status", "done"), [("paused", "paused"), ("active", "resumed")])
def test_a_marketer_pauses_and_resumes(
    console: Console, status: str, done: str, caplog: pytest.LogCaptureFixture
) -> None:
    console.admin.on(
        "POST", "/admin/v1/campaigns/station-departures/status",
        {"id": "station-departures", "status": status, "version": 1},
    )  # fmt: skip
    answer = console.request(
        "POST", "/console/campaigns/station-departures/status", "marketer", form={"status": status}
    )
    assert answer["statusCode"] == 303
    location = answer["headers"]["Location"]
    assert location == f"/console/campaigns?done={done}&id=station-departures"
    assert console.admin.changes() == [
        ("POST", "/admin/v1/campaigns/station-departures/status", {"status": status})
    ]
    (audit,) = [r for r in caplog.records if r.name == "nudge-audit"]
    assert (audit.action, audit.status) == ("campaigns.pause", 200)  # type: ignore[attr-defined]
    assert audit.target == {"campaign": "station-departures", "status": status}  # type: ignore[attr-defined]
    assert audit.actor["roles"] == ["marketer"]  # type: ignore[attr-defined]
    # the list shows the outcome
    serve_list(console)
    page = console.page(location, "marketer")
    assert f'data-testid="notice">Campaign station-departures {done}.<' in page


@pytest.mark.parametrize("status", ["archived", "", "deleted"])
def test_a_status_the_console_does_not_set_is_refused(console: Console, status: str) -> None:
    answer = console.request(
        "POST", "/console/campaigns/station-departures/status", "marketer", form={"status": status}
    )
    assert answer["statusCode"] == 400 and "status: paused or active" in answer["body"]
    confirm = console.request("GET", f"/console/campaigns/x/status?to={status}", "marketer")
    assert confirm["statusCode"] == 400
    assert console.admin.changes() == []


def test_the_admin_apis_refusal_is_shown_on_the_confirmation(console: Console) -> None:
    refusal = {
        "statusCode": 400,
        "message": "invalid config: campaigns/station-departures.yaml:12: status: archived",
        "problems": [{"source": "campaigns/station-departures.yaml", "line": 12,
                      "field": "status", "message": "an archived campaign can't be resumed"}],
    }  # fmt: skip
    console.admin.on("POST", "/admin/v1/campaigns/station-departures/status", refusal, 400)
    console.admin.on("GET", "/admin/v1/campaigns/station-departures", STATION)
    answer = console.request(
        "POST",
        "/console/campaigns/station-departures/status",
        "marketer",
        form={"status": "active"},
    )
    assert answer["statusCode"] == 400
    body = answer["body"]
    assert 'data-testid="error"' in body and "invalid config" in body
    assert (
        "campaigns/station-departures.yaml:12: status: an archived campaign can&#39;t be resumed"
        in body
    )
    assert '<input type="hidden" name="status" value="active">' in body  # try again from here


def test_pausing_an_unknown_campaign_is_a_404_page(console: Console) -> None:
    console.admin.on(
        "POST", "/admin/v1/campaigns/nope/status",
        lambda m, p, b, q: AdminAnswer(404, {"message": "campaign_id: no campaign 'nope'"}),
    )  # fmt: skip
    answer = console.request(
        "POST", "/console/campaigns/nope/status", "marketer", form={"status": "paused"}
    )
    assert answer["statusCode"] == 404


def test_each_row_draws_its_own_sends_opens_and_opt_outs_per_day(console: Console) -> None:
    report = copy.deepcopy(REPORT)
    days = [{"day": f"2026-03-0{d}", "sent": d, "delivered": d, "opened": 1, "opt_out": 0}
            for d in range(1, 4)]  # fmt: skip
    report["campaigns"]["station-departures"]["daily"] = days
    console.admin.on("GET", "/admin/v1/campaigns", LISTED)
    console.admin.on("GET", "/admin/v1/reports/campaigns", report)
    console.admin.on("GET", "/admin/v1/reports/engagement", ENGAGEMENT)
    page = console.page("/console/campaigns")
    station = row_of(page, "station-departures")
    for series in ("sends", "opens", "opt-outs"):
        assert f'aria-label="{series} per day, station-departures"' in station
    # a campaign whose report has no days says so rather than drawing nothing
    assert "no days" in row_of(page, "onboarding")
