"""Console pages: every campaign with its totals, one campaign's report (funnel, baseline,
suppressions, variants and lift, daily trend, promotion), and pause/resume behind a
server-side confirmation."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from nudge.console.admin_client import AdminAnswer, path_segment
from nudge.console.views.common import (
    ConsoleError,
    admin_call,
    admin_json,
    audit,
    redirect,
    render,
    require,
    scope,
)

router = APIGatewayHttpRouter()
CAMPAIGN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,63}$")
DAYS = (7, 30, 90)
# what the console may set: archiving stays a config change (nudge CLI / Configs page)
TARGETS = {"paused": "Pause", "active": "Resume"}
DONE = {"paused": "paused", "active": "resumed"}
GOOD = frozenset({"helps", "better", "a_better", "b_better"})
BAD = frozenset({"hurts", "worse"})


def _days() -> int:
    raw = router.current_event.get_query_string_value("days") or "30"
    if raw not in {str(d) for d in DAYS}:
        raise ConsoleError(400, "Bad days", f"days: one of {', '.join(map(str, DAYS))}")
    return int(raw)


def _campaign_id(campaign_id: str) -> str:
    if not CAMPAIGN_ID.fullmatch(campaign_id):
        raise ConsoleError(
            400, "Not a campaign id", "campaign_id: letters, digits, - and _ (at most 64)"
        )
    return campaign_id


def tone(verdict: Any) -> str:
    """The CSS class of a verdict: good, bad, or neither (not enough data, no effect)."""
    return "good" if verdict in GOOD else "bad" if verdict in BAD else ""


def pts(value: Any, digits: int = 1) -> str:
    """Percentage points with their sign ("+4.2"), or a dash when the report has none."""
    return f"{value:+.{digits}f}" if isinstance(value, int | float) else "\u2013"


def lenient(value: Any) -> Any:
    """The admin API's JSON with absent keys read as None: row shapes differ (a file that
    never loaded has no version or trigger), and the templates are strict about names."""
    if isinstance(value, dict):
        return defaultdict(lambda: None, {k: lenient(v) for k, v in value.items()})
    if isinstance(value, list):
        return [lenient(v) for v in value]
    return value


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


@router.get("/console/campaigns")
def campaigns() -> Response[str]:
    require("read")
    days = _days()
    listed = admin_json("/admin/v1/campaigns").get("campaigns") or []
    answer = admin_call("GET", "/admin/v1/reports/campaigns", days=str(days))
    report = answer.body if answer.ok and isinstance(answer.body, dict) else None
    totals = (report or {}).get("campaigns") or {}
    # every campaign pooled, per day (each row has its own days from the list report)
    trend = admin_call("GET", "/admin/v1/reports/engagement", days=str(days))
    daily = trend.body.get("daily") if trend.ok and isinstance(trend.body, dict) else None
    rows = [{"campaign": lenient(c), "totals": lenient(totals.get(c.get("id")))} for c in listed]
    pooled = None
    if daily:
        pooled = {key: charts_values(daily, key) for key in ("sent", "opened", "opt_out")}
    notice = _notice()
    return render(
        "campaigns.html",
        rows=rows,
        days=days,
        all_days=DAYS,
        report=lenient(report),
        report_error=None if report is not None else answer.message,
        pooled=pooled,
        can_pause=scope().principal.can("campaigns.pause"),
        notice=notice,
        tone=tone,
        pts=pts,
    )


def charts_values(daily: list[dict[str, Any]], key: str) -> list[float]:
    return [_number(day.get(key)) for day in daily]


def _notice() -> str | None:
    event = router.current_event
    done, target = event.get_query_string_value("done"), event.get_query_string_value("id")
    if done in DONE.values() and target and CAMPAIGN_ID.fullmatch(target):
        return f"Campaign {target} {done}."
    return None


@router.get("/console/campaigns/<campaign_id>")
def campaign(campaign_id: str) -> Response[str]:
    require("read")
    campaign_id = _campaign_id(campaign_id)
    days = _days()
    segment = path_segment(campaign_id)
    head = admin_json(f"/admin/v1/campaigns/{segment}")  # unknown → the 404 page
    answer = admin_call("GET", f"/admin/v1/reports/campaigns/{segment}", days=str(days))
    report = answer.body if answer.ok and isinstance(answer.body, dict) else None
    return render(
        "campaigns_detail.html",
        head=lenient(head),
        campaign_id=campaign_id,
        report=lenient(report),
        report_error=None if report is not None else answer.message,
        sections=lenient(_sections(report)) if report else None,
        days=days,
        all_days=DAYS,
        can_pause=scope().principal.can("campaigns.pause"),
        tone=tone,
        pts=pts,
    )


def _sections(report: dict[str, Any]) -> dict[str, Any]:
    """The report's numbers as the page's charts and rows (labels carry their unit)."""
    funnel = report.get("funnel") or [
        {"step": step, "count": report.get(step)}
        for step in ("targeted", "sent", "delivered", "opened", "converted")
        if report.get(step) is not None
    ]
    first = _number(funnel[0]["count"]) if funnel else 0.0
    suppressed = sorted((report.get("suppressed") or {}).items(), key=lambda kv: -_number(kv[1]))
    failures = sorted((report.get("failures") or {}).items(), key=lambda kv: -_number(kv[1]))
    daily = report.get("daily") or []
    variants = []
    for name, numbers in (report.get("variants") or {}).items():
        variants.append(
            {
                "id": name,
                "numbers": numbers,
                "format": (report.get("formats") or {}).get(name),
                "lift": (report.get("variant_lift") or {}).get(name),
            }
        )
    return {
        "funnel": [
            {**step, "share": 100 * _number(step["count"]) / first if first else None}
            for step in funnel
        ],
        "funnel_bars": [(str(s["step"]), _number(s["count"])) for s in funnel],
        "suppressed": suppressed,
        "suppressed_bars": [(str(k), _number(v)) for k, v in suppressed],
        "failures": failures,
        "variants": variants,
        "daily_sent": [(d.get("day", ""), d.get("sent"), None, None) for d in daily],
        "daily_opened": [(d.get("day", ""), d.get("opened"), None, None) for d in daily],
        "daily_opt_out": [(d.get("day", ""), d.get("opt_out"), None, None) for d in daily],
        "any_opt_out": any(_number(d.get("opt_out")) for d in daily),
    }


# ---------- pause / resume ----------


def _target(value: str | None) -> str:
    if value not in TARGETS:
        raise ConsoleError(400, "Bad status", "status: paused or active")
    return value


@router.get("/console/campaigns/<campaign_id>/status")
def confirm_status(campaign_id: str) -> Response[str]:
    require("campaigns.pause")
    campaign_id = _campaign_id(campaign_id)
    to = _target(router.current_event.get_query_string_value("to"))
    head = admin_json(f"/admin/v1/campaigns/{path_segment(campaign_id)}")
    return _confirmation(head, campaign_id, to)


def _confirmation(
    head: dict[str, Any], campaign_id: str, to: str, refused: AdminAnswer | None = None
) -> Response[str]:
    return render(
        "campaigns_status.html",
        400 if refused is not None and refused.status < 500 else 200 if refused is None else 502,
        head=lenient(head),
        campaign_id=campaign_id,
        to=to,
        verb=TARGETS[to],
        error=refused.message if refused is not None else None,
        problems=problem_lines(refused) if refused is not None else [],
    )


@router.post("/console/campaigns/<campaign_id>/status")
def change_status(campaign_id: str) -> Response[str]:
    require("campaigns.pause")
    campaign_id = _campaign_id(campaign_id)
    to = _target(scope().field("status") or None)
    segment = path_segment(campaign_id)
    answer = admin_call("POST", f"/admin/v1/campaigns/{segment}/status", {"status": to})
    audit("campaigns.pause", {"campaign": campaign_id, "status": to}, answer)
    if answer.ok:
        return redirect(f"/console/campaigns?done={DONE[to]}&id={segment}")
    if answer.status == 404:
        raise ConsoleError(404, "Not found", answer.message)
    if answer.status in (401, 403):
        raise ConsoleError(403, "The admin API refused", answer.message)
    # show the refusal on the confirmation page, with the campaign as it is now
    current = admin_call("GET", f"/admin/v1/campaigns/{segment}")
    head = current.body if current.ok and isinstance(current.body, dict) else {"id": campaign_id}
    return _confirmation(head, campaign_id, to, refused=answer)


def problem_lines(answer: AdminAnswer) -> list[str]:
    """The admin API's located problems as `file:line: field: message`."""
    body = answer.body if isinstance(answer.body, dict) else {}
    lines = []
    for problem in body.get("problems") or []:
        if not isinstance(problem, dict):
            lines.append(str(problem))
            continue
        where = str(problem.get("source") or "")
        if problem.get("line") is not None:
            where += f":{problem['line']}"
        field = problem.get("field") or ""
        head = f"{where}: " if where else ""
        lines.append(f"{head}{field + ': ' if field else ''}{problem.get('message', '')}")
    return lines
