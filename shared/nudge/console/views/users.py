"""Console pages: look a user up (profile, devices, consent trail, the decisions about them),
export their data as a file, and erase them after the user id is typed back.

Everything comes from the admin API's users routes: the export (GET /admin/v1/users/{id}, one
page of history at a time) and the decision trail (GET .../decisions). Marketers and privacy
may look users up; only privacy may export or erase (session.PERMISSIONS), checked here on the
server for every request whatever the page showed.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote, unquote, urlencode

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from nudge.console.admin_client import AdminAnswer, path_segment
from nudge.console.views.common import (
    ConsoleError,
    admin_call,
    audit,
    redirect,
    render,
    require,
    scope,
    security_headers,
)

router = APIGatewayHttpRouter()
MAX_USER_ID = 256  # the admin API's limit on the path's user id
MAX_EXPORT_BYTES = 5_000_000  # the console's answer must stay under Lambda's 6 MB payload limit
MAX_EXPORT_PAGES = 50  # 1,000 history records a page
ERASED_COUNTS = (
    ("profile_erased", "Profile (lifecycle, counts, attributes, location)"),
    ("history_records_erased", "History records (events, decisions, transitions, consents)"),
    ("device_records_erased", "Devices (push tokens) and preferences"),
    ("survey_records_erased", "NPS survey records (states, prompts, answers)"),
    ("delivery_records_erased", "Delivery log records"),
    ("broadcasts_erased_from", "Running broadcasts whose list held the user"),
)
GOOD_VERDICTS = {"send", "sent"}
NEUTRAL_VERDICTS = {"holdout", "wait", "deferred", "unknown"}  # neither sent nor blocked


def _user_id(raw: str) -> str:
    """The path's id, decoded (`auth0%7Cabc` is `auth0|abc`); re-encoded for the admin path."""
    user_id = unquote(raw)
    if not user_id.strip() or len(user_id) > MAX_USER_ID:
        raise ConsoleError(
            400, "Bad user id", f"user id: 1 to {MAX_USER_ID} characters, e.g. commuter-0535812b"
        )
    return user_id


def _page_url(user_id: str) -> str:
    return f"/console/users/{quote(user_id, safe='')}"


def _lookup(status: int = 200, error: str = "", user_id: str = "") -> Response[str]:
    return render("users.html", status, error=error, user_id=user_id)


def _refusal(answer: AdminAnswer, user_id: str) -> Response[str]:
    """The admin API's refusal on the lookup page (a 400 names the field), never a 500."""
    status = 502 if answer.status >= 500 else answer.status
    return _lookup(status, f"The admin API refused: {answer.message}", user_id)


def _is_unknown(export: dict[str, Any]) -> bool:
    """The export answers 200 for any id: nothing stored at all means no such user."""
    surveys = export.get("surveys") or {}
    return not any(
        (
            export.get("profile"),
            export.get("devices"),
            export.get("preferences"),
            export.get("history"),
            export.get("deliveries"),
            export.get("broadcasts"),
            surveys.get("states"),
            surveys.get("responses"),
        )
    )


def _no_such_user(user_id: str) -> Response[str]:
    return _lookup(404, f"There is no such user: nothing is stored for {user_id!r}.", user_id)


@router.get("/console/users")
def lookup() -> Response[str]:
    require("users.view")
    wanted = router.current_event.get_query_string_value("id")
    if wanted is None:
        return _lookup()
    wanted = wanted.strip()
    if not wanted or len(wanted) > MAX_USER_ID:
        return _lookup(400, f"user id: enter 1 to {MAX_USER_ID} characters", wanted[:MAX_USER_ID])
    return redirect(_page_url(wanted))


def _profile(export: dict[str, Any]) -> dict[str, Any]:
    """What the Profile section shows, from the stored profile and its summary."""
    profile = export.get("profile") or {}
    summary = export.get("summary") or {}
    attributes = profile.get("attributes") or {}
    preferences = export.get("preferences") or {}
    devices = export.get("devices") or []
    zone, zone_from = None, ""
    for value, source in (
        (preferences.get("timezone"), "preferences"),
        ((attributes.get("timezone") or {}).get("value"), "attribute"),
        (next((d.get("timezone") for d in devices if d.get("timezone")), None), "device"),
    ):
        if value:
            zone, zone_from = value, source
            break
    geo = profile.get("geo") or {}
    counts = sorted(
        (
            (name, c.get("total", 0), c.get("last_at"))
            for name, c in (profile.get("counts") or {}).items()
        ),
        key=lambda row: (-row[1], row[0]),
    )
    return {
        "stored": bool(profile),
        "stage": summary.get("stage") or profile.get("stage"),
        "stage_since": profile.get("stage_since"),
        "sessions": summary.get("sessions"),
        "first_seen": profile.get("first_seen"),
        "last_seen": profile.get("last_seen"),
        "purchases": profile.get("purchases") or {},
        "interests": summary.get("top_interests") or [],
        "location": profile.get("location"),
        "zone": zone,
        "zone_from": zone_from,
        "fences": sorted((geo.get("fences") or {}).items()),
        "attributes": sorted((k, v.get("value"), v.get("at")) for k, v in attributes.items()),
        "counts": counts,
        "transitions": list(reversed(profile.get("transitions") or [])),
    }


def _consent(export: dict[str, Any]) -> dict[str, Any]:
    preferences = export.get("preferences") or {}
    records = preferences.get("consents") or {}
    current = [
        {"category": name, "granted": granted, **(records.get(name) or {})}
        for name, granted in sorted((preferences.get("categories") or {}).items())
    ]
    trail = [h for h in export.get("history") or [] if h.get("type") == "consent"]
    trail.sort(key=lambda h: (h.get("at") or 0, h.get("version") or 0), reverse=True)
    return {
        "current": current,
        "trail": trail,
        "quiet_hours": preferences.get("quiet_hours"),
        "timezone": preferences.get("timezone"),
    }


@router.get("/console/users/<raw_id>")
def user_page(raw_id: str) -> Response[str]:
    principal = require("users.view")
    user_id = _user_id(raw_id)
    query = router.current_event.get_query_string_value
    history_after = query("history_after") or ""
    segment = path_segment(user_id)
    paging = {"history_after": history_after} if history_after else {}
    exported = admin_call("GET", f"/admin/v1/users/{segment}", **paging)
    if not exported.ok:
        return _refusal(exported, user_id)
    export = exported.body
    if _is_unknown(export) and not history_after:
        return _no_such_user(user_id)
    why = admin_call("GET", f"/admin/v1/users/{segment}/decisions")
    # the rest of the page stands without the decision trail: its failure is shown in its place
    trail = why.body if why.ok and isinstance(why.body, dict) else {}
    decisions = trail.get("decisions") or []
    campaign = (query("campaign") or "").strip()
    shown = [d for d in decisions if d.get("id") == campaign] if campaign else decisions
    next_page = export.get("history_next")
    return render(
        "users_detail.html",
        user_id=user_id,
        page_url=_page_url(user_id),
        export=export,
        profile=_profile(export),
        consent=_consent(export),
        devices=export.get("devices") or [],
        decisions=shown,
        campaigns=sorted({d.get("id") for d in decisions if d.get("id")}),
        campaign=campaign,
        not_recorded=trail.get("not_recorded") or "",
        decisions_error="" if why.ok else f"The admin API refused ({why.status}): {why.message}",
        history_after=history_after,
        history_next_url=(
            f"{_page_url(user_id)}?{urlencode({'history_after': next_page})}" if next_page else ""
        ),
        good_verdicts=GOOD_VERDICTS,
        neutral_verdicts=NEUTRAL_VERDICTS,
        can_export=principal.can("users.export"),
        can_erase=principal.can("users.erase"),
    )


def _download_name(user_id: str) -> str:
    """A file name that can't break the header: anything unusual becomes `_`."""
    return f"nudge-user-{re.sub(r'[^A-Za-z0-9._-]', '_', user_id)[:128]}.json"


@router.get("/console/users/<raw_id>/export")
def export_file(raw_id: str) -> Response[str]:
    require("users.export")
    user_id = _user_id(raw_id)
    path = f"/admin/v1/users/{path_segment(user_id)}"
    first = admin_call("GET", path)
    # personal data leaves the system: one audit line, whatever the answer
    audit("users.export", {"user_id": user_id}, first)
    if not first.ok:
        return _refusal(first, user_id)
    export = dict(first.body)
    if _is_unknown(export):
        return _no_such_user(user_id)
    history = list(export.get("history") or [])
    size, pages = len(json.dumps(export, default=str)), 1
    while export.get("history_next") and pages < MAX_EXPORT_PAGES and size < MAX_EXPORT_BYTES:
        more = admin_call("GET", path, history_after=str(export["history_next"]))
        if not more.ok:
            return _refusal(more, user_id)
        history += more.body.get("history") or []
        export["history_next"] = more.body.get("history_next")
        size += len(json.dumps(more.body.get("history") or [], default=str))
        pages += 1
    export["history"] = history  # history_next stays set only if the file had to stop early
    headers = security_headers()
    headers["Content-Disposition"] = f'attachment; filename="{_download_name(user_id)}"'
    return Response(200, "application/json", json.dumps(export, indent=2), headers=headers)


def _confirmation(user_id: str, status: int = 200, error: str = "") -> Response[str]:
    return render(
        "users_erase.html",
        status,
        user_id=user_id,
        page_url=_page_url(user_id),
        error=error,
        typed=scope().field("confirm_user_id"),
    )


@router.get("/console/users/<raw_id>/erase")
def erase_page(raw_id: str) -> Response[str]:
    require("users.erase")
    return _confirmation(_user_id(raw_id))


@router.post("/console/users/<raw_id>/erase")
def erase(raw_id: str) -> Response[str]:
    require("users.erase")
    user_id = _user_id(raw_id)
    if scope().field("confirm_user_id") != user_id:
        return _confirmation(
            user_id,
            400,
            "confirm_user_id: type the user id exactly as shown to erase this user "
            "(nothing was erased).",
        )
    answer = admin_call("DELETE", f"/admin/v1/users/{path_segment(user_id)}")
    audit("users.erase", {"user_id": user_id}, answer)
    if not answer.ok:
        status = 502 if answer.status >= 500 else answer.status
        return _confirmation(user_id, status, f"The admin API refused: {answer.message}")
    counts = {key: answer.body.get(key) for key, _ in ERASED_COUNTS if key in answer.body}
    return redirect(f"{_page_url(user_id)}/erased?{urlencode(counts)}")


@router.get("/console/users/<raw_id>/erased")
def erased(raw_id: str) -> Response[str]:
    require("users.erase")
    user_id = _user_id(raw_id)
    query = router.current_event.get_query_string_value
    rows = [(key, label, query(key)) for key, label in ERASED_COUNTS if query(key) is not None]
    return render("users_erased.html", user_id=user_id, rows=rows)
