"""NPS pages over fakes: the surveys with their score, one survey's report (score, trend,
breakdown, themes, priorities), empty states and bad filters."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.unit.console.conftest import Console

DATA = Path(__file__).parent / "data"
SURVEYS = json.loads((DATA / "nps_surveys.json").read_text())
REPORT = json.loads((DATA / "nps_report_lifecycle.json").read_text())
REPORT_PATH = "/admin/v1/reports/nps/nps-after-trip"


def csat() -> dict[str, Any]:
    report = copy.deepcopy(REPORT)
    report.update(survey_id="csat-ticket", kind="csat", name="CSAT after buying a ticket")
    report["overall"].update(kind="csat", nps=None, score=66.7, ci_low=30.0, ci_high=90.3, n=6)
    return report


def test_the_surveys_with_their_current_score(console: Console) -> None:
    console.admin.on("GET", "/admin/v1/surveys", SURVEYS)
    console.admin.on("GET", REPORT_PATH, REPORT)
    console.admin.on("GET", "/admin/v1/reports/nps/csat-ticket", csat())
    page = console.page("/console/nps")
    assert page.count('data-testid="survey-row"') == 2
    assert '<a href="/console/nps/nps-after-trip">NPS after a trip</a>' in page
    assert 'data-testid="survey-score">20.8 <span class="muted">(insufficient)' in page
    assert "66.7 % satisfied" in page and "-16 to 57" in page
    assert "(2026-03-02 to 2026-04-01 UTC)" in page
    reads = {(p, tuple(sorted((q or {}).items()))) for m, p, _, q in console.admin.calls}
    assert (REPORT_PATH, (("themes", "false"),)) in reads  # the score only, no themes
    assert console.admin.changes() == []


def test_no_surveys_says_how_to_publish_one(console: Console) -> None:
    console.admin.on("GET", "/admin/v1/surveys", {"surveys": []})
    page = console.page("/console/nps")
    assert 'data-testid="empty"' in page and "nudge survey push" in page


def test_a_survey_whose_report_fails_is_still_listed(console: Console) -> None:
    console.admin.on("GET", "/admin/v1/surveys", SURVEYS)
    console.admin.on("GET", "/admin/v1/reports/nps/.*", {"message": "boom"}, 500)
    page = console.page("/console/nps")
    assert page.count('data-testid="survey-row"') == 2 and "no report" in page


def test_the_report_with_score_trend_breakdown_and_themes(console: Console) -> None:
    console.admin.on("GET", REPORT_PATH, REPORT)
    page = console.page("/console/nps/nps-after-trip?by=lifecycle&period=weekly&since=30d")
    call, answers = console.admin.calls  # the report, then the answers (the low scores)
    assert answers[1] == "/admin/v1/surveys/nps-after-trip/responses.csv"
    assert call[1] == REPORT_PATH
    assert call[3] == {"period": "weekly", "since": "30d", "by": "lifecycle"}
    assert 'data-testid="nps-score"' in page
    assert 'data-testid="score">20.8<' in page and 'data-testid="interval">-16 to 57<' in page
    assert 'data-testid="responses">24<' in page
    assert "2026-03-02 to 2026-04-01 UTC" in page
    assert '<svg class="chart"' in page and "<polygon" in page  # the interval band
    assert page.count('data-testid="breakdown-row"') == len(REPORT["breakdown"])
    assert page.count('data-testid="theme"') == len(REPORT["themes"]["themes"])
    assert "Trains were late three days in a row" in page
    assert 'data-testid="fix-first"' in page and 'data-testid="praised"' in page
    assert '<option value="lifecycle" selected>' in page


def test_a_csat_report_names_its_groups_and_scale(console: Console) -> None:
    console.admin.on("GET", "/admin/v1/reports/nps/csat-ticket", csat())
    page = console.page("/console/nps/csat-ticket")
    assert "% satisfied" in page and "unsatisfied" in page and "detractors" not in page


def test_a_report_without_responses_or_comments(console: Console) -> None:
    empty = copy.deepcopy(REPORT)
    empty["overall"].update(
        n=0, score=None, nps=None, ci_low=None, ci_high=None, label="no responses"
    )
    for point in empty["trend"]:
        point.update(n=0, score=None, nps=None, ci_low=None, ci_high=None)
    empty["breakdown"] = []
    empty["themes"] = {"responses_read": 0, "capped": False, "comments": 0, "themes": []}
    console.admin.on("GET", REPORT_PATH, empty)
    page = console.page("/console/nps/nps-after-trip?by=platform")
    assert "no data in this period yet" in page
    assert 'data-testid="no-themes"' in page and "widen the window" in page


@pytest.mark.parametrize(
    ("query", "field"),
    [("period=hourly", "period:"), ("by=height", "by:"), ("since=9999d", "since:")],
)
def test_a_bad_filter_names_its_field(console: Console, query: str, field: str) -> None:
    answer = console.request("GET", f"/console/nps/nps-after-trip?{query}")
    assert answer["statusCode"] == 400 and field in answer["body"]
    assert console.admin.calls == []


def test_an_unknown_survey_is_a_not_found_page(console: Console) -> None:
    console.admin.on(
        "GET", "/admin/v1/reports/nps/gone", {"message": "survey_id: no survey 'gone'"}, 404
    )
    answer = console.request("GET", "/console/nps/gone")
    assert answer["statusCode"] == 404 and "no survey" in answer["body"]


def test_every_role_may_read(console: Console) -> None:
    console.admin.on("GET", REPORT_PATH, REPORT)
    for role in ("viewer", "marketer", "privacy"):
        assert 'data-testid="nps-score"' in console.page("/console/nps/nps-after-trip", role=role)


CSV = (
    "answered_at,survey_id,prompt_id,score,category,reason,follow_up,locale,platform,"
    "app_version,country,lifecycle,user_id\r\n"
    "2026-03-10T09:00:00Z,nps-after-trip,p1,9,promoter,Great,,en,ios,2.1,NL,active,u-happy\r\n"
    "2026-03-11T09:00:00Z,nps-after-trip,p2,3,detractor,=Too slow,,en,android,2.1,NL,at_risk,"
    "u/sad\r\n"
)


def test_detractors_are_listed_newest_first_with_user_links_for_marketers(
    console: Console,
) -> None:
    console.admin.on("GET", REPORT_PATH, REPORT)
    console.admin.on("GET", "/admin/v1/surveys/nps-after-trip/responses.csv", CSV)
    page = console.page("/console/nps/nps-after-trip", role="marketer")
    assert page.count('data-testid="follow-up"') == 1
    assert "=Too slow" in page and "Great" not in page.split('id="follow-ups-head"')[1]
    assert 'href="/console/users/u%2Fsad"' in page
    _, _, _, query = console.admin.calls[-1]
    assert query == {"since": "30d", "include_user_id": "true"}


def test_a_viewer_sees_detractors_without_user_ids(console: Console) -> None:
    console.admin.on("GET", REPORT_PATH, REPORT)
    console.admin.on("GET", "/admin/v1/surveys/nps-after-trip/responses.csv", CSV)
    page = console.page("/console/nps/nps-after-trip", role="viewer")
    assert "/console/users/" not in page
    _, _, _, query = console.admin.calls[-1]
    assert query is not None and query["include_user_id"] == "false"


def test_unreadable_answers_leave_the_rest_of_the_report(console: Console) -> None:
    console.admin.on("GET", REPORT_PATH, REPORT)
    console.admin.on(
        "GET", "/admin/v1/surveys/nps-after-trip/responses.csv", {"message": "nope"}, 403
    )
    page = console.page("/console/nps/nps-after-trip")
    assert 'data-testid="follow-ups-error"' in page and 'data-testid="nps-score"' in page
