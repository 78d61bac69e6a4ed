"""What every page uses: the request's scope (who, with which client), rendering, forms,
permission checks and the audit line of each change."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.parser import BytesParser
from email.policy import HTTP
from functools import cache
from typing import Any
from urllib.parse import parse_qs, quote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.shared.cookies import Cookie
from jinja2 import Environment, PackageLoader, StrictUndefined

from nudge.console import charts
from nudge.console.admin_client import AdminAnswer, AdminClient
from nudge.console.session import Principal, csrf_token

HTML = "text/html; charset=utf-8"
MAX_FORM_BYTES = 1024 * 1024  # config files are capped at 256 KiB by the admin API anyway
NAV = (
    ("campaigns", "Campaigns"),
    ("configs", "Configs"),
    ("broadcasts", "Broadcasts"),
    ("nps", "NPS"),
    ("sunset", "Sunset"),
    ("users", "Users"),
)
# the console's own audit lines: same logger name as the admin API's, so one filter finds both
audit_logger = Logger(service="nudge-audit", level="INFO")
SECURITY_HEADERS = {
    # own scripts and styles only (no CDN); inline SVG charts; nothing framed
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class ConsoleError(Exception):
    """Shown as a page: a status, a title and what to do."""

    def __init__(self, status: int, title: str, message: str = "") -> None:
        super().__init__(message or title)
        self.status, self.title, self.message = status, title, message


@dataclass
class Scope:
    """One request: who is signed in, the admin API client, the parsed form."""

    principal: Principal
    admin: AdminClient
    path: str
    host: str
    form: dict[str, list[str]]
    files: dict[str, tuple[str, bytes]]  # field -> (file name, content)

    def field(self, name: str, default: str = "") -> str:
        values = self.form.get(name)
        return values[0] if values else default

    def fields(self, name: str) -> list[str]:
        return list(self.form.get(name, []))


_scope: Scope | None = None


def set_scope(scope: Scope | None) -> None:
    global _scope
    _scope = scope


def scope() -> Scope:
    if _scope is None:
        raise ConsoleError(401, "Sign in first", "This page needs a signed-in session.")
    return _scope


def require(action: str) -> Principal:
    """The signed-in user, if their roles allow `action`; a 403 page otherwise."""
    principal = scope().principal
    if not principal.can(action):
        raise ConsoleError(
            403,
            "Not allowed",
            f"Your roles ({', '.join(sorted(principal.roles)) or 'none'}) don't allow "
            f"{action.replace('.', ' ')}. Ask an administrator for the role that does.",
        )
    return principal


def audit(action: str, target: Mapping[str, Any], answer: AdminAnswer) -> None:
    """One line per change made from the console: who (the signed-in person), what, outcome."""
    audit_logger.info(
        "console change",
        extra={
            "actor": scope().principal.audit_actor(),
            "action": action,
            "target": {k: str(v)[:256] for k, v in target.items()},
            "status": answer.status,
        },
    )


def admin_call(method: str, path: str, body: Any = None, **query: str) -> AdminAnswer:
    return scope().admin.call(method, path, body, query or None)


def admin_json(path: str, **query: str) -> Any:
    """A read the page can't do without: its failure becomes the page's error."""
    answer = admin_call("GET", path, **query)
    if answer.status == 404:
        raise ConsoleError(404, "Not found", answer.message)
    if not answer.ok:
        raise ConsoleError(
            502 if answer.status >= 500 else answer.status, "The admin API refused", answer.message
        )
    return answer.body


# ---------- rendering ----------


def _number(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    try:
        return f"{float(value):,.{digits}f}"
    except (TypeError, ValueError):
        return str(value)


def _percent(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    try:
        return f"{100 * float(value):.{digits}f} %"
    except (TypeError, ValueError):
        return str(value)


def _when(value: Any) -> str:
    """An ISO time or epoch seconds, as a UTC minute (the unit is in the text)."""
    if value in (None, ""):
        return "-"
    try:
        moment = (
            datetime.fromtimestamp(float(value), UTC)
            if isinstance(value, int | float)
            else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        )
    except (TypeError, ValueError):
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@cache
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("nudge.console", "templates"),
        autoescape=True,
        undefined=StrictUndefined,  # a misspelt name fails the page's test, not silently
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(number=_number, percent=_percent, when=_when, urlpart=_urlpart)
    env.filters["tojson_pretty"] = lambda value: json.dumps(value, indent=2, default=str)
    env.globals.update(charts=charts, nav=NAV)
    return env


def _urlpart(value: Any) -> str:
    return quote(str(value), safe="")


def render(template: str, status: int = 200, **context: Any) -> Response[str]:
    current = _scope
    page = environment().get_template(template)
    body = page.render(
        principal=current.principal if current else None,
        csrf=csrf_token(current.principal.token) if current else "",
        path=current.path if current else "",
        **context,
    )
    return Response(status, HTML, body, headers=security_headers())


def security_headers() -> dict[str, str]:
    return dict(SECURITY_HEADERS)


def redirect(location: str, cookies: list[Cookie] | None = None) -> Response[str]:
    headers = {"Location": location, "Cache-Control": "no-store"}
    return Response(303, HTML, "", headers=headers, cookies=cookies or [])


# ---------- forms ----------


def parse_form(
    content_type: str, body: bytes
) -> tuple[dict[str, list[str]], dict[str, tuple[str, bytes]]]:
    """An urlencoded or multipart form (uploads); anything else is an empty form."""
    if len(body) > MAX_FORM_BYTES:
        raise ConsoleError(413, "Too large", f"A form may hold at most {MAX_FORM_BYTES} bytes.")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        text = body.decode("utf-8", "replace")
        return parse_qs(text, keep_blank_values=True, max_num_fields=200), {}
    if kind != "multipart/form-data":
        return {}, {}
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    fields: dict[str, list[str]] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        decoded = part.get_payload(decode=True)
        payload = decoded if isinstance(decoded, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = (filename, payload)
        else:
            fields.setdefault(name, []).append(payload.decode("utf-8", "replace"))
    return fields, files
