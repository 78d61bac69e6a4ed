"""Console pages: configs - campaigns, segment files, surveys and fence sets with their
versions and load errors; upload (publish through the admin API), restore, and a campaign's
preview and audience estimate.

Everything is validated by the admin API: the console only decides which id a file is
published under and shows the API's located problems when it refuses (nothing goes live).
The admin API keeps a version history for campaigns and surveys only, and restores campaigns
only; segment files and fence sets show their current version from the lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from nudge.configfiles import ConfigError, parse_yaml
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
CONFIG_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")  # the admin API's path pattern
PASTED = "pasted text"


@dataclass(frozen=True)
class Kind:
    label: str
    collection: str  # the admin API's collection path
    list_key: str  # the list answer's key
    detailed: bool  # GET {collection}/{id} exists (current text and versions)
    restorable: bool  # POST {collection}/{id}/restore exists
    id_from_yaml: bool  # the file's own `id` names it (else the file name does)


KINDS: dict[str, Kind] = {
    "campaign": Kind("Campaign", "/admin/v1/campaigns", "campaigns", True, True, True),
    "segments": Kind("Segment file", "/admin/v1/segments", "segments", False, False, False),
    "survey": Kind("Survey", "/admin/v1/surveys", "surveys", True, False, True),
    "fences": Kind("Fence set", "/admin/v1/geofences", "sets", False, False, False),
}
FENCE_FORMATS = {".geojson": "geojson", ".json": "geojson", ".csv": "csv"}


class UploadRefused(Exception):
    """The upload can't be sent: located problems, shown on the form."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def _kind(name: str) -> Kind:
    if name not in KINDS:
        raise ConsoleError(404, "Not found", f"kind: no config kind {name!r}")
    return KINDS[name]


def _located(answer: AdminAnswer, file_name: str) -> list[str]:
    """The admin API's refusal as `file:line: field: message` rows, under the uploaded name."""
    return _problem_rows(answer, file_name) or [f"{file_name}: {answer.message}"]


def _problem_rows(answer: AdminAnswer, file_name: str) -> list[str]:
    body = answer.body if isinstance(answer.body, dict) else {}
    rows: list[str] = []
    for problem in body.get("problems") or []:
        if not isinstance(problem, dict):
            rows.append(str(problem))
            continue
        line = problem.get("line")
        where = f"{file_name}:{line}" if line else file_name
        field = problem.get("field") or ""
        rows.append(f"{where}: {field + ': ' if field else ''}{problem.get('message', '')}")
    for error in body.get("errors") or []:  # request validation (e.g. a body too large)
        if isinstance(error, dict):
            rows.append(f"{file_name}: {error.get('field', '')}: {error.get('error', '')}")
    return rows


def _load_errors(entry: dict[str, Any]) -> list[str]:
    """An entry's last load errors (a file in the bucket that failed to load)."""
    rows = []
    for problem in entry.get("errors") or []:
        if isinstance(problem, dict):
            source, line = problem.get("source", ""), problem.get("line")
            field = problem.get("field") or ""
            where = f"{source}:{line}" if line else source
            rows.append(f"{where}: {field + ': ' if field else ''}{problem.get('message', '')}")
        else:
            rows.append(str(problem))
    return rows


def _lists() -> dict[str, dict[str, Any]]:
    """Each kind's entries, or the admin API's refusal for that kind (the others still show)."""
    lists: dict[str, dict[str, Any]] = {}
    for name, kind in KINDS.items():
        answer = admin_call("GET", kind.collection)
        entries = (
            answer.body.get(kind.list_key) if answer.ok and isinstance(answer.body, dict) else None
        )
        lists[name] = {
            "kind": kind,
            "entries": [dict(e, load_errors=_load_errors(e)) for e in entries or []],
            "error": None if entries is not None else answer.message,
        }
    return lists


def _configs_page(status: int = 200, **context: Any) -> Response[str]:
    context.setdefault("problems", [])
    context.setdefault("form", {"kind": "campaign", "text": "", "name": ""})
    return render("configs.html", status, lists=_lists(), kinds=KINDS, **context)


@router.get("/console/configs")
def configs_page() -> Response[str]:
    require("read")
    return _configs_page()


# ---------- upload ----------


def _uploaded() -> tuple[str, str, str]:
    """(file name, text, stem) from the file input, or the textarea with the name field."""
    current = scope()
    file_name, content = current.files.get("file", ("", b""))
    given_name = current.field("name").strip()
    if file_name and content:
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as error:
            raise UploadRefused([f"{file_name}: not UTF-8 text"]) from error
        base = PurePosixPath(file_name.replace("\\", "/")).name
        return base, text, given_name or PurePosixPath(base).stem
    text = current.field("text")
    if not text.strip():
        raise UploadRefused(["file: choose a file or paste the config in the text box"])
    return PASTED, text, given_name


def _decide_id(kind: Kind, file_name: str, text: str, stem: str) -> str:
    """Campaigns and surveys: their YAML `id` (the file name's stem when absent); segment
    files and fence sets: the file name's stem (or the name field for pasted text)."""
    config_id = ""
    if kind.id_from_yaml:
        try:
            data, _ = parse_yaml(text, file_name)
        except ConfigError as error:
            if not stem:  # no other name: show the syntax problem now
                raise UploadRefused([str(p) for p in error.problems]) from error
            data = None  # publish under the stem: the admin API reports the located problem
        if isinstance(data, dict) and isinstance(data.get("id"), str):
            config_id = data["id"].strip()
    config_id = config_id or stem
    if not config_id:
        raise UploadRefused(
            [f"name: give the {kind.label.lower()} a name (pasted text has no file name)"]
        )
    if not CONFIG_ID.match(config_id):
        raise UploadRefused(
            [
                f"{file_name}: id: {config_id!r} is not a valid id (lower-case letters, digits,"
                " '-' and '_', at most 64, starting with a letter or digit)"
            ]
        )
    return config_id


def _body(kind_name: str, file_name: str, text: str) -> dict[str, str]:
    if kind_name != "fences":
        return {"yaml": text}
    suffix = PurePosixPath(file_name).suffix.lower() if file_name != PASTED else ""
    if suffix and suffix not in FENCE_FORMATS:
        raise UploadRefused([f"{file_name}: a fence set is a .geojson or .csv file"])
    fence_format = FENCE_FORMATS.get(suffix) or (
        "geojson" if text.lstrip().startswith("{") else "csv"
    )
    return {"format": fence_format, "content": text}


@router.post("/console/configs/upload")
def upload() -> Response[str]:
    require("configs.change")
    current = scope()
    kind_name = current.field("kind")
    form = {"kind": kind_name, "text": current.field("text"), "name": current.field("name")}
    file_name = ""
    try:
        if kind_name not in KINDS:
            raise UploadRefused(["kind: choose campaign, segments, survey or fences"])
        kind = KINDS[kind_name]
        file_name, text, stem = _uploaded()
        config_id = _decide_id(kind, file_name, text, stem)
        body = _body(kind_name, file_name, text)
    except UploadRefused as refused:
        return _configs_page(400, problems=refused.problems, form=form)
    answer = admin_call("PUT", f"{kind.collection}/{path_segment(config_id)}", body)
    audit("configs.change", {"kind": kind_name, "id": config_id, "file": file_name}, answer)
    if not answer.ok:
        status = 502 if answer.status >= 500 else 400
        return _configs_page(
            status, problems=_located(answer, file_name), form=form, refused_id=config_id
        )
    published = answer.body if isinstance(answer.body, dict) else {}
    changed = "1" if published.get("created", True) else "0"
    return redirect(
        f"/console/configs/{kind_name}/{path_segment(config_id)}"
        f"?published={published.get('version', '')}&changed={changed}"
    )


# ---------- one config ----------


def _entry(kind_name: str, config_id: str) -> dict[str, Any]:
    """The admin API's detail (campaigns, surveys) or the config's row of its list."""
    kind = _kind(kind_name)
    if kind.detailed:
        detail = admin_json(f"{kind.collection}/{path_segment(config_id)}")
        return dict(detail) if isinstance(detail, dict) else {}
    listed = admin_json(kind.collection)
    for entry in (listed or {}).get(kind.list_key) or []:
        if entry.get("id") == config_id:
            return dict(entry)
    raise ConsoleError(404, "Not found", f"{kind.label.lower()} {config_id!r} is not loaded")


def _versions(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """Newest first; campaigns say `created_at`, surveys `at`."""
    rows = [
        {
            "version": v.get("version"),
            "when": v.get("created_at", v.get("at")),
            "by": v.get("source") or "",
            "digest": v.get("sha256") or "",
            "status": v.get("status") or "",
        }
        for v in entry.get("versions") or []
        if isinstance(v, dict)
    ]
    return sorted(rows, key=lambda v: -int(v["version"] or 0))


def _detail(kind_name: str, config_id: str, status: int = 200, **extra: Any) -> Response[str]:
    entry = _entry(kind_name, config_id)
    query = router.current_event.get_query_string_value
    context: dict[str, Any] = {
        "published": query("published") or "",
        "changed": query("changed") or "1",
        "restored": query("restored") or "",
        "restored_from": query("from") or "",
        "preview": None,
        "preview_user": "",
        "estimate": None,
        "action_error": "",
        "action_problems": [],
    }
    context.update(extra)
    return render(
        "configs_detail.html",
        status,
        kind_name=kind_name,
        kind=KINDS[kind_name],
        config_id=config_id,
        entry=entry,
        load_errors=_load_errors(entry),
        versions=_versions(entry),
        **context,
    )


@router.get("/console/configs/<kind_name>/<config_id>")
def config_page(kind_name: str, config_id: str) -> Response[str]:
    require("read")
    return _detail(kind_name, config_id)


# ---------- restore (campaigns) ----------


def _restorable(kind_name: str, version_text: str) -> int:
    if not _kind(kind_name).restorable:
        raise ConsoleError(
            404, "Not found", f"The admin API restores campaigns only, not {kind_name}."
        )
    try:
        version = int(version_text)
    except ValueError:
        version = 0
    if version < 1:
        raise ConsoleError(400, "Bad request", f"version: a version number, not {version_text!r}")
    return version


def _restore_page(
    kind_name: str, config_id: str, version: int, status: int = 200, error: str = ""
) -> Response[str]:
    entry = _entry(kind_name, config_id)
    chosen = next((v for v in _versions(entry) if v["version"] == version), None)
    if chosen is None:
        raise ConsoleError(404, "Not found", f"version: {config_id!r} has no version {version}")
    return render(
        "configs_restore.html",
        status,
        kind_name=kind_name,
        config_id=config_id,
        entry=entry,
        chosen=chosen,
        error=error,
    )


@router.get("/console/configs/<kind_name>/<config_id>/restore")
def restore_confirm(kind_name: str, config_id: str) -> Response[str]:
    require("configs.change")
    query = router.current_event.get_query_string_value
    version = _restorable(kind_name, query("version") or "")
    return _restore_page(kind_name, config_id, version)


@router.post("/console/configs/<kind_name>/<config_id>/restore")
def restore(kind_name: str, config_id: str) -> Response[str]:
    require("configs.change")
    version = _restorable(kind_name, scope().field("version"))
    collection = KINDS[kind_name].collection
    answer = admin_call(
        "POST", f"{collection}/{path_segment(config_id)}/restore", {"version": version}
    )
    audit("configs.change", {"kind": kind_name, "id": config_id, "restore": version}, answer)
    if not answer.ok:
        status = 502 if answer.status >= 500 else 400
        message = "; ".join(_located(answer, f"version {version}"))
        return _restore_page(kind_name, config_id, version, status, message)
    new_version = answer.body.get("version", "") if isinstance(answer.body, dict) else ""
    return redirect(
        f"/console/configs/{kind_name}/{path_segment(config_id)}"
        f"?restored={new_version}&from={version}"
    )


# ---------- preview and estimate (campaigns) ----------


def _campaign_text(config_id: str) -> str:
    text = _entry("campaign", config_id).get("text")
    if not isinstance(text, str) or not text.strip():
        raise ConsoleError(
            409,
            "No current version",
            f"The admin API has no current YAML for campaign {config_id!r}: upload one first.",
        )
    return text


def _tried(config_id: str, answer: AdminAnswer, **extra: Any) -> Response[str]:
    """The campaign's page with the preview or estimate, or the admin API's refusal."""
    if answer.ok:
        return _detail("campaign", config_id, **extra)
    return _detail(
        "campaign",
        config_id,
        502 if answer.status >= 500 else 400,
        preview=None,
        estimate=None,
        action_error=answer.message,
        action_problems=_problem_rows(answer, f"{config_id}.yaml"),
        preview_user=extra.get("preview_user", ""),
    )


@router.post("/console/configs/campaign/<config_id>/preview")
def preview(config_id: str) -> Response[str]:
    require("campaigns.preview")
    user_id = scope().field("user_id").strip()
    if not user_id:
        return _detail(
            "campaign", config_id, 400, action_error="user_id: enter a user id to preview for"
        )
    text = _campaign_text(config_id)
    answer = admin_call("POST", "/admin/v1/campaigns/preview", {"yaml": text, "user_id": user_id})
    audit("campaigns.preview", {"id": config_id, "user_id": user_id}, answer)
    return _tried(config_id, answer, preview=answer.body, preview_user=user_id)


@router.post("/console/configs/campaign/<config_id>/estimate")
def estimate(config_id: str) -> Response[str]:
    require("campaigns.preview")
    text = _campaign_text(config_id)
    answer = admin_call("POST", "/admin/v1/campaigns/estimate", {"yaml": text})
    audit("campaigns.preview", {"id": config_id, "estimate": "audience"}, answer)
    return _tried(config_id, answer, estimate=answer.body)
