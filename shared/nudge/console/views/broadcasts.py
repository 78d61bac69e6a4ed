"""Console pages: compose a broadcast, preview it (its message rendered as the push sender
renders it, the audience estimate, whether a sample user is in the target), send it after a
confirmation, follow its progress and cancel it.

The admin API has no broadcast preview, estimate or list route. A broadcast's text reads only
the broadcast's `data` (the same for everyone), so the console renders it with the push
sender's own pure renderer. For the audience it borrows the campaigns' read-only estimate
and preview, with the target written as a throwaway campaign (never published): the same
sampled estimate the broadcast service makes at creation. Broadcasts are not listed: the
store has no index to list them by, so the page opens one by id.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import yaml
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from pydantic import ValidationError

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
from nudge.domain.messaging.templates import render as render_message
from nudge.models.broadcast import BroadcastRequest
from nudge.models.template import MessageTemplate
from nudge.templating import TemplateError

router = APIGatewayHttpRouter()
CATEGORIES = ("marketing", "product_updates", "transactional", "internal")
TARGETS = {
    "segment_name": "A named segment",
    "segment": "An audience written as YAML (as in campaigns)",
    "attributes": "Users whose attributes match",
    "user_ids": "A list of user ids",
    "all_users": "Everyone with a registered device",
}
WHEN = {"now": "Now", "start_at": "At a fixed time", "local": "At a local time in each zone"}
BROADCAST_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
FIELDS = (
    "template_source", "template_id", "template_key", "category", "locale", "title", "body",
    "deep_link", "target_kind", "segment_name", "segment", "attributes", "user_ids",
    "dedupe_key", "rate_per_minute", "ttl_hours", "when", "start_at", "local_time",
    "local_date", "sample_user", "data",
)  # fmt: skip
DONE = {"sent": "Broadcast started.", "cancelled": "Broadcast cancelled: no more sends start."}


def _defaults() -> dict[str, str]:
    form = dict.fromkeys(FIELDS, "")
    form.update(
        template_source="text",
        template_key="console-broadcast",
        category="marketing",
        locale="en",
        target_kind="segment_name",
        dedupe_key=f"console-{uuid.uuid4().hex[:16]}",  # one key per composed message
        rate_per_minute="500000",
        ttl_hours="24",
        when="now",
    )
    return form


def _submitted() -> dict[str, str]:
    current = scope()
    return {name: current.field(name).strip() for name in FIELDS}


def _whole(form: dict[str, str], name: str, problems: list[str]) -> int | None:
    try:
        return int(form[name])
    except ValueError:
        problems.append(f"{name}: a whole number, not {form[name]!r}")
        return None


def _scalar(text: str) -> Any:
    """`true`, `3` or `payments` as YAML reads them: attributes keep their types."""
    try:
        value = yaml.safe_load(text.strip())
    except yaml.YAMLError:
        return text.strip()
    return value if isinstance(value, str | int | float | bool) else text.strip()


def _target(form: dict[str, str], problems: list[str]) -> dict[str, Any]:
    kind = form["target_kind"]
    if kind == "all_users":
        return {"all_users": True}
    if kind == "user_ids":
        return {"user_ids": [u for u in re.split(r"[\s,]+", form["user_ids"]) if u]}
    if kind == "segment_name":
        return {"segment_name": form["segment_name"]}
    if kind == "attributes":  # one `name: value, value` per line
        found: dict[str, list[str]] = {}
        for number, line in enumerate(form["attributes"].splitlines(), 1):
            if not line.strip():
                continue
            name, sep, values = line.partition(":")
            if not sep or not name.strip():
                problems.append(f"attributes: line {number}: write name: value, value")
                continue
            found[name.strip()] = [_scalar(v) for v in values.split(",") if v.strip()]
        return {"attributes": found}
    if kind == "segment":
        try:
            segment = yaml.safe_load(form["segment"] or "{}")
        except yaml.YAMLError as error:
            problems.append(f"segment: not valid YAML: {error}".splitlines()[0])
            return {}
        if not isinstance(segment, dict):
            problems.append(
                "segment: write the audience as a YAML mapping, e.g. lifecycle: [active]"
            )
            return {}
        return {"segment": segment}
    problems.append(f"target_kind: one of {', '.join(TARGETS)}")
    return {}


def _data(form: dict[str, str], problems: list[str]) -> dict[str, Any]:
    """What the template's {{ ... }} read: one mapping for every recipient."""
    try:
        data = yaml.safe_load(form["data"] or "{}")
    except yaml.YAMLError:
        data = None
    if not isinstance(data, dict):
        problems.append("data: write a YAML or JSON mapping, e.g. {code: SPRING}")
        return {}
    return {str(k): v for k, v in data.items()}


def _rendered(body: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """The message as the push sender renders it (the template and the data, nothing else),
    or why it can't be: then every push would fail."""
    if "template" not in body:
        return None, ""
    try:
        template = MessageTemplate.model_validate(body["template"])
        return render_message(template, None, body["data"]).model_dump(exclude_none=True), ""
    except TemplateError as error:
        return None, str(error)


def _request(form: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """The admin API's broadcast body from the form, and the problems found in it (checked
    with the API's own model, so each names its field as a refusal would)."""
    problems: list[str] = []
    body: dict[str, Any] = {"dedupe_key": form["dedupe_key"]}
    if form["template_source"] == "stored":
        body["template_id"] = form["template_id"]
    else:
        text = {"title": form["title"], "body": form["body"]}
        if form["deep_link"]:
            text["deep_link"] = form["deep_link"]
        locale = form["locale"] or "en"
        body["template"] = {
            "id": form["template_key"] or "console-broadcast",
            "category": form["category"],
            "default_locale": locale,
            "text": {locale: text},
        }
    body["target"] = _target(form, problems)
    body["data"] = _data(form, problems)
    rate = _whole(form, "rate_per_minute", problems)
    if rate is not None:
        body["rate_per_minute"] = rate
    hours = _whole(form, "ttl_hours", problems)
    if hours is not None:
        body["ttl_seconds"] = hours * 3600
    if form["when"] == "start_at":
        body["start_at"] = form["start_at"]
    elif form["when"] == "local":
        body["local_time"], body["local_date"] = form["local_time"], form["local_date"]
    elif form["when"] != "now":
        problems.append(f"when: one of {', '.join(WHEN)}")
    if not problems:
        try:
            BroadcastRequest.model_validate(body)
        except ValidationError as error:
            for item in error.errors():
                where = ".".join(str(part) for part in item["loc"]) or "broadcast"
                problems.append(f"{where}: {item['msg'].removeprefix('Value error, ')}")
    if not problems:
        _, failed = _rendered(body)
        if failed:
            problems.append(f"template: {failed} (every push would fail)")
    return body, problems


def _problems(answer: AdminAnswer) -> list[str]:
    """A refusal's problems, located `file:line: field: message` where the API gives them."""
    body = answer.body if isinstance(answer.body, dict) else {}
    found = []
    for item in body.get("problems") or ():
        where = ":".join(str(item[k]) for k in ("source", "line") if item.get(k) not in (None, ""))
        field = f"{item['field']}: " if item.get("field") else ""
        found.append(
            f"{where}: {field}{item.get('message', '')}"
            if where
            else field + item.get("message", "")
        )
    return found or [answer.message]


def _segment_names() -> list[str]:
    answer = admin_call("GET", "/admin/v1/segments")  # only a convenience: the page works without
    if not answer.ok or not isinstance(answer.body, dict):
        return []
    return sorted({n for f in answer.body.get("segments") or () for n in f.get("segments") or ()})


def _compose(
    form: dict[str, str], problems: list[str], status: int = 200, **extra: Any
) -> Response[str]:
    principal = require("read")
    return render(
        "broadcasts.html",
        status,
        form=form,
        problems=problems,
        can_send=principal.can("broadcasts.send"),
        segment_names=_segment_names() if principal.can("broadcasts.send") else [],
        targets=TARGETS,
        categories=CATEGORIES,
        when_choices=WHEN,
        **extra,
    )


@router.get("/console/broadcasts")
def compose() -> Response[str]:
    require("read")
    wanted = (router.current_event.get_query_string_value("id") or "").strip()
    if wanted:
        if not BROADCAST_ID.fullmatch(wanted):
            return _compose(
                _defaults(),
                [],
                400,
                lookup_error="id: letters, digits, - and _ only (at most 64)",
                lookup=wanted,
            )
        return redirect(f"/console/broadcasts/{wanted}")
    return _compose(_defaults(), [])


def _campaign_yaml(body: dict[str, Any]) -> str:
    """The broadcast as a campaign the preview and estimate routes read (never published)."""
    target = body["target"]
    audience: dict[str, Any] = {}
    if "segment_name" in target:
        audience = {"segment": target["segment_name"]}
    elif "segment" in target:
        audience = target["segment"]
    elif "attributes" in target:
        audience = {"attributes": target["attributes"]}
    # the campaign checks its own template variables: a placeholder text, the broadcast's is
    # rendered on its own; the category is kept, so the consent rule is the broadcast's
    category = body["template"]["category"] if "template" in body else "marketing"
    campaign = {
        "id": "console-broadcast-preview",
        "name": "Broadcast preview",
        "category": category,
        "status": "active",
        "trigger": {"event": {"name": "console_broadcast_preview"}},
        "audience": audience,
        "variants": [{"id": "broadcast", "title": "-", "body": "-"}],
    }
    return yaml.safe_dump(campaign, sort_keys=False, allow_unicode=True)


def _estimate(body: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    target = body["target"]
    if "user_ids" in target:
        listed = len(target["user_ids"])
        return {"estimate": listed, "interval_95": [listed, listed], "complete": True}, []
    answer = admin_call("POST", "/admin/v1/campaigns/estimate", {"yaml": _campaign_yaml(body)})
    if not answer.ok:
        return None, _problems(answer)
    return answer.body, []


@router.post("/console/broadcasts/edit")
def edit() -> Response[str]:
    """Back from the preview to the form, as it was filled in."""
    require("broadcasts.send")
    return _compose(_submitted(), [])


@router.post("/console/broadcasts/preview")
def preview() -> Response[str]:
    require("broadcasts.send")
    form = _submitted()
    body, problems = _request(form)
    if problems:
        return _compose(form, problems, 400)
    message, render_error = _rendered(body)
    estimate, estimate_problems = _estimate(body)
    sample: dict[str, Any] | None = None
    preview_problems: list[str] = []
    if form["sample_user"]:
        answer = admin_call(
            "POST",
            "/admin/v1/campaigns/preview",
            {"yaml": _campaign_yaml(body), "user_id": form["sample_user"]},
        )
        if answer.ok and isinstance(answer.body, dict):
            rules = {r.get("rule"): r for r in answer.body.get("rules") or ()}
            in_target = (rules.get("audience") or {}).get("passed")
            if "user_ids" in body["target"]:
                in_target = form["sample_user"] in body["target"]["user_ids"]
            sample = {
                "user_id": form["sample_user"],
                "in_target": in_target,
                "why": (rules.get("audience") or {}).get("detail") if not in_target else "",
                "devices": answer.body.get("devices"),
                "zone": answer.body.get("zone"),
                "consent": rules.get("consent"),
            }
        else:
            preview_problems = _problems(answer)
    return render(
        "broadcasts_preview.html",
        form=form,
        request=body,
        target_label=TARGETS.get(form["target_kind"], ""),
        estimate=estimate,
        estimate_problems=estimate_problems,
        message=message,
        render_error=render_error,
        sample=sample,
        preview_problems=preview_problems,
        when_label=WHEN.get(form["when"], ""),
    )


@router.post("/console/broadcasts/send")
def send() -> Response[str]:
    require("broadcasts.send")
    form = _submitted()
    body, problems = _request(form)
    if problems:
        return _compose(form, problems, 400)
    answer = admin_call("POST", "/admin/v1/broadcasts", body)
    created = answer.body if answer.ok and isinstance(answer.body, dict) else {}
    target = {
        "broadcast_id": created.get("broadcast_id", ""),
        "dedupe_key": body["dedupe_key"],
        "target": next(iter(body["target"]), ""),
        "template": body.get("template_id") or body["template"]["id"],
    }
    audit("broadcasts.send", target, answer)
    if answer.ok and created.get("broadcast_id"):
        return redirect(f"/console/broadcasts/{path_segment(created['broadcast_id'])}?done=sent")
    status = answer.status if 400 <= answer.status < 500 else 502
    return _compose(form, _problems(answer), status, refused=True)


def _checked_id(broadcast_id: str) -> str:
    if not BROADCAST_ID.fullmatch(broadcast_id):
        raise ConsoleError(
            400, "Not a broadcast id", "A broadcast id has letters, digits, - and _ only."
        )
    return broadcast_id


def _progress(data: dict[str, Any]) -> dict[str, Any]:
    """sent / targeted: a list's length, else the estimate made when it was created."""
    estimate = data.get("estimate") or {}
    targeted = data.get("total")
    if targeted is None:
        targeted = estimate.get("estimate")
    sent = int(data.get("enqueued") or 0)
    percent = None
    if data.get("status") == "done":
        percent = 1.0
    elif targeted:
        percent = min(sent / targeted, 1.0)
    return {
        "sent": sent,
        "targeted": targeted,
        "percent": percent,
        "exact": data.get("total") is not None,
    }


@router.get("/console/broadcasts/<broadcast_id>")
def progress(broadcast_id: str) -> Response[str]:
    principal = require("read")
    data = admin_json(f"/admin/v1/broadcasts/{path_segment(_checked_id(broadcast_id))}")
    done = router.current_event.get_query_string_value("done") or ""
    return render(
        "broadcasts_progress.html",
        b=data,
        progress=_progress(data),
        done=DONE.get(done, ""),
        can_cancel=principal.can("broadcasts.send") and data.get("status") == "running",
    )


@router.get("/console/broadcasts/<broadcast_id>/cancel")
def cancel_confirm(broadcast_id: str) -> Response[str]:
    require("broadcasts.send")
    data = admin_json(f"/admin/v1/broadcasts/{path_segment(_checked_id(broadcast_id))}")
    return render("broadcasts_cancel.html", b=data, progress=_progress(data), error="")


@router.post("/console/broadcasts/<broadcast_id>/cancel")
def cancel(broadcast_id: str) -> Response[str]:
    require("broadcasts.send")
    path = f"/admin/v1/broadcasts/{path_segment(_checked_id(broadcast_id))}"
    answer = admin_call("DELETE", path)
    audit("broadcasts.cancel", {"broadcast_id": broadcast_id}, answer)
    if answer.ok:
        return redirect(f"/console/broadcasts/{path_segment(broadcast_id)}?done=cancelled")
    if answer.status == 404:
        raise ConsoleError(404, "Not found", answer.message)
    data = admin_json(path)
    status = answer.status if 400 <= answer.status < 500 else 502
    return render(
        "broadcasts_cancel.html", status, b=data, progress=_progress(data), error=answer.message
    )
