"""The console's resolver: who is signed in, CSRF on every change, then the page's route.

Public: sign-in (login, callback), the static files and the signed-out page. Everything else
needs a verified session with at least one console role; every POST also needs the CSRF
token and, when the browser sends one, a same-site Origin.
"""

from __future__ import annotations

import base64
from functools import cache
from importlib import resources
from typing import Any
from urllib.parse import quote

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from nudge.console.admin_client import AdminClient, AdminUnavailable
from nudge.console.oidc import OidcClient, SignInError
from nudge.console.session import (
    SESSION_COOKIE,
    Principal,
    csrf_ok,
    principal_from_claims,
    same_origin,
)
from nudge.console.settings import ConsoleSettings
from nudge.console.views import auth, broadcasts, campaigns, configs, nps, sunset, users
from nudge.console.views.common import (
    ConsoleError,
    Scope,
    parse_form,
    redirect,
    render,
    set_scope,
)

logger = Logger(child=True)
PUBLIC_PREFIXES = ("/console/login", "/console/callback", "/console/static/", "/console/signed-out")
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}

app = APIGatewayHttpResolver()
for router in (
    auth.router,
    campaigns.router,
    configs.router,
    broadcasts.router,
    nps.router,
    sunset.router,
    users.router,
):
    app.include_router(router)


@cache
def settings() -> ConsoleSettings:
    return ConsoleSettings.from_env()


@cache
def oidc() -> OidcClient:
    return OidcClient(settings())


def cookies_of(event: dict[str, Any]) -> dict[str, str]:
    jar: dict[str, str] = {}
    for raw in event.get("cookies") or ():
        name, _, value = raw.partition("=")
        jar.setdefault(name.strip(), value.strip())
    return jar


@app.get("/console")
def home() -> Response[str]:
    return redirect("/console/campaigns")


@app.get("/console/static/<name>")
def static(name: str) -> Response[str]:
    suffix = name[name.rfind(".") :] if "." in name else ""
    folder = resources.files("nudge.console") / "static"
    if suffix not in STATIC_TYPES or "/" in name or not (folder / name).is_file():
        raise NotFoundError(f"no static file {name!r}")
    return Response(
        200,
        STATIC_TYPES[suffix],
        (folder / name).read_text(encoding="utf-8"),
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


@app.exception_handler(ConsoleError)
def console_error(error: ConsoleError) -> Response[str]:
    return render("error.html", error.status, title=error.title, message=error.message)


@app.exception_handler(AdminUnavailable)
def admin_unavailable(error: AdminUnavailable) -> Response[str]:
    logger.warning("admin API unreachable", extra={"error": str(error)})
    return render("error.html", 502, title="The admin API could not be reached", message=str(error))


@app.exception_handler(SignInError)
def sign_in_failed(error: SignInError) -> Response[str]:
    return render("error.html", 400, title="Sign-in failed", message=f"{error}. Sign in again.")


@app.exception_handler(Exception)
def unexpected(error: Exception) -> Response[str]:
    """A bug, not a refusal: logged with its trace, and a page rather than API Gateway's bare
    500 (the alarm on the function's errors doesn't see it: the answer is a page)."""
    logger.exception("console page failed")
    return render(
        "error.html",
        500,
        title="Something went wrong",
        message="This page failed on the server; it has been logged. Try again, or go back.",
    )


@app.not_found
def not_found(_: Exception) -> Response[str]:
    return render("error.html", 404, title="Not found", message="There is no such console page.")


def _signed_in(event: dict[str, Any]) -> Principal | None:
    token = cookies_of(event).get(SESSION_COOKIE)
    if not token:
        return None
    try:
        claims = oidc().verify(token)
    except SignInError as error:
        logger.info("session refused", extra={"reason": str(error)})
        return None
    return principal_from_claims(claims, settings().role_claim, token)


def _body(event: dict[str, Any]) -> bytes:
    body = event.get("body") or ""
    return base64.b64decode(body) if event.get("isBase64Encoded") else body.encode("utf-8")


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Authenticate, check CSRF, then route. Pages never see an unauthenticated request."""
    set_scope(None)
    path = event.get("rawPath") or "/"
    method = event.get("requestContext", {}).get("http", {}).get("method", "GET").upper()
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    host = headers.get("host") or event.get("requestContext", {}).get("domainName", "")
    if not settings().configured:
        return _page(
            503,
            "Console not configured",
            "Set the stack's ConsoleClientId parameter to the console's OIDC app client "
            "(docs/console.md).",
        )
    if path.startswith(PUBLIC_PREFIXES):
        return app.resolve(event, context)
    principal = _signed_in(event)
    if principal is None:
        if method == "GET":
            query = event.get("rawQueryString")
            target = quote(path + (f"?{query}" if query else ""), safe="")
            return {
                "statusCode": 303,
                "headers": {
                    "Location": f"/console/login?next={target}",
                    "Cache-Control": "no-store",
                },
                "body": "",
            }
        return _page(401, "Signed out", "Your session has ended: sign in again.")
    if not principal.roles:
        return _page(
            403,
            "No console role",
            f"Your account has no console role in its '{settings().role_claim}' claim "
            "(viewer, marketer or privacy). Ask an administrator to add you to one.",
        )
    form, files = {}, {}
    if method == "POST":
        form, files = parse_form(headers.get("content-type", ""), _body(event))
        given = (form.get("csrf") or [headers.get("x-csrf-token", "")])[0]
        if not csrf_ok(principal.token, given) or not same_origin(headers.get("origin"), host):
            return _page(
                403,
                "Form expired",
                "The form expired or came from another site: reload the page and try again.",
            )
    api = settings().admin_api_url(event.get("requestContext", {}).get("domainName", host))
    set_scope(Scope(principal, AdminClient(api), path, host, form, files))
    try:
        return app.resolve(event, context)
    finally:
        set_scope(None)


def _page(status: int, title: str, message: str) -> dict[str, Any]:
    """An error page answered before routing (no session, no role, bad CSRF)."""
    page = render("error.html", status, title=title, message=message)
    return {
        "statusCode": status,
        "headers": {**page.headers, "Content-Type": "text/html; charset=utf-8"},
        "body": page.body,
    }
