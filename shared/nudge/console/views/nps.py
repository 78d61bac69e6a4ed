"""Console pages: the surveys with their current score, and one survey's report (score with
its interval, trend, breakdown, comment themes and what to fix first)."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from nudge.console.admin_client import path_segment
from nudge.console.views.common import (
    ConsoleError,
    admin_call,
    admin_json,
    render,
    require,
    scope,
)

router = APIGatewayHttpRouter()
SURVEY_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")  # the admin API's own pattern
PERIODS = {"weekly": "By week", "daily": "By day"}
BREAKDOWNS = {
    "": "No breakdown",
    "lifecycle": "Lifecycle stage",
    "platform": "Platform",
    "app_version": "App version",
    "country": "Country",
}
SINCE = {"7d": "Last 7 days", "30d": "Last 30 days", "90d": "Last 90 days", "365d": "Last 365 days"}
SCORED_AT_MOST = 25  # surveys whose score the list fetches (one report call each)
# what each kind calls its three groups (the report's keys are the NPS ones for both) and
# the score's scale
KINDS = {
    "nps": {"labels": ("Promoters", "Passives", "Detractors"), "range": (-100.0, 100.0),
            "unit": "NPS (-100 to 100)", "name": "NPS"},
    "csat": {"labels": ("Satisfied", "Neutral", "Unsatisfied"), "range": (0.0, 100.0),
             "unit": "% satisfied", "name": "CSAT"},
}  # fmt: skip
GROUP_KEYS = ("promoters", "passives", "detractors")
LOW_SCORES_SHOWN = 50  # the newest; the CSV export has them all


def _kind(report: dict[str, Any]) -> dict[str, Any]:
    return KINDS.get(str(report.get("kind")), KINDS["nps"])


@router.get("/console/nps")
def surveys() -> Response[str]:
    require("read")
    listed = admin_json("/admin/v1/surveys").get("surveys") or []
    rows = []
    for n, survey in enumerate(sorted(listed, key=lambda s: str(s.get("id")))):
        overall = None
        if n < SCORED_AT_MOST and not survey.get("deleted"):
            # the current score: the default window, without the (slower) comment themes
            answer = admin_call(
                "GET", f"/admin/v1/reports/nps/{path_segment(str(survey.get('id')))}",
                themes="false",
            )  # fmt: skip
            if answer.ok and isinstance(answer.body, dict):
                overall = {**(answer.body.get("overall") or {}), "since": answer.body.get("since"),
                           "until": answer.body.get("until")}  # fmt: skip
        rows.append({"survey": survey, "overall": overall})
    window = next((r["overall"] for r in rows if r["overall"]), None)
    return render("nps.html", rows=rows, scored_at_most=SCORED_AT_MOST, window=window)


def _choice(name: str, value: str, allowed: dict[str, str]) -> str:
    if value not in allowed:
        raise ConsoleError(
            400, f"Bad {name}", f"{name}: one of {', '.join(k for k in allowed if k)}"
        )
    return value


@router.get("/console/nps/<survey_id>")
def report(survey_id: str) -> Response[str]:
    require("read")
    if not SURVEY_ID.fullmatch(survey_id):
        raise ConsoleError(400, "Not a survey id", "survey_id: lowercase letters, digits, - and _")
    event = router.current_event
    period = _choice("period", event.get_query_string_value("period") or "weekly", PERIODS)
    by = _choice("by", event.get_query_string_value("by") or "", BREAKDOWNS)
    since = _choice("since", event.get_query_string_value("since") or "30d", SINCE)
    query = {"period": period, "since": since}
    if by:
        query["by"] = by
    data = admin_json(f"/admin/v1/reports/nps/{path_segment(survey_id)}", **query)
    kind = _kind(data)
    trend = data.get("trend") or []
    points = [
        (str(p.get("period")), p.get("score"), p.get("ci_low"), p.get("ci_high")) for p in trend
    ]
    overall = data.get("overall") or {}
    themes = data.get("themes") or {}
    with_users = scope().principal.can("users.view")
    low_scores, low_scores_error = _low_scores(survey_id, since, with_users)
    return render(
        "nps_report.html",
        r=data,
        overall=overall,
        kind=kind,
        trend=trend,
        points=points,
        themes=themes,
        priorities=themes.get("priorities") or {},
        breakdown=data.get("breakdown") or [],
        period=period,
        by=by,
        since=since,
        periods=PERIODS,
        breakdowns=BREAKDOWNS,
        since_choices=SINCE,
        groups=list(zip(GROUP_KEYS, kind["labels"], strict=True)),
        low_scores=low_scores,
        low_scores_error=low_scores_error,
        with_users=with_users,
    )


def _low_scores(
    survey_id: str, since: str, with_users: bool
) -> tuple[list[dict[str, str]], str | None]:
    """The window's detractor answers, newest first: each is a ticket detractor_router sent
    (docs/nps.md). User ids only for roles that may look users up, to follow up."""
    answer = admin_call(
        "GET",
        f"/admin/v1/surveys/{path_segment(survey_id)}/responses.csv",
        since=since,
        include_user_id="true" if with_users else "false",
    )
    if not answer.ok:
        return [], answer.message
    rows = csv.DictReader(io.StringIO(str(answer.body)))
    found = [row for row in rows if row.get("category") == "detractor"]
    return list(reversed(found))[:LOW_SCORES_SHOWN], None
