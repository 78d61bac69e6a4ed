"""Console page: the sunset advice (campaigns and formats weak on opens and strong on
opt-outs, worst first) with the numbers behind each, and what could not be judged yet."""

from __future__ import annotations

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from nudge.console.views.campaigns import lenient, pts
from nudge.console.views.common import ConsoleError, admin_json, render, require

router = APIGatewayHttpRouter()
DAYS = (7, 30, 90)  # the admin API's default window is 7 days


@router.get("/console/sunset")
def sunset() -> Response[str]:
    require("read")
    raw = router.current_event.get_query_string_value("days") or "7"
    if raw not in {str(d) for d in DAYS}:
        raise ConsoleError(400, "Bad days", f"days: one of {', '.join(map(str, DAYS))}")
    report = admin_json("/admin/v1/reports/sunset", days=raw)
    return render("sunset.html", report=lenient(report), days=int(raw), all_days=DAYS, pts=pts)
