"""Signing in and out: the OIDC code flow with PKCE (oidc.py), the session cookie."""

from __future__ import annotations

import base64
import json
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.shared.cookies import Cookie, SameSite

from nudge.console.session import (
    COOKIE_PATH,
    LOGIN_COOKIE,
    LOGIN_TTL_S,
    SESSION_COOKIE,
    is_loopback,
    safe_next,
)
from nudge.console.views.common import ConsoleError, redirect, render, scope

router = APIGatewayHttpRouter()


def _app() -> Any:
    from nudge.console import app  # the module's cached settings and OIDC client

    return app


def _host() -> str:
    event = router.current_event
    return event.headers.get("host") or event.request_context.domain_name


def _callback_url() -> str:
    host = _host()
    return f"{'http' if is_loopback(host) else 'https'}://{host}/console/callback"


def _cookie(name: str, value: str, max_age: int) -> Cookie:
    return Cookie(
        name,
        value,
        path=COOKIE_PATH,
        secure=not is_loopback(_host()),
        http_only=True,
        same_site=SameSite.LAX_MODE,  # sent on the provider's top-level redirect back
        max_age=max_age,
    )


@router.get("/console/login")
def login() -> Response[str]:
    start = _app().oidc().start(_callback_url())
    pending = {
        "verifier": start.verifier,
        "state": start.state,
        "nonce": start.nonce,
        "next": safe_next(router.current_event.get_query_string_value("next")),
    }
    value = base64.urlsafe_b64encode(json.dumps(pending).encode()).decode()
    return redirect(start.url, [_cookie(LOGIN_COOKIE, value, LOGIN_TTL_S)])


@router.get("/console/callback")
def callback() -> Response[str]:
    event = router.current_event
    failure = event.get_query_string_value("error")
    if failure:
        detail = event.get_query_string_value("error_description") or failure
        raise ConsoleError(400, "Sign-in failed", f"The identity provider said: {detail}")
    pending = _pending(_app().cookies_of(event.raw_event).get(LOGIN_COOKIE, ""))
    code, state = event.get_query_string_value("code"), event.get_query_string_value("state")
    if not code or not state or state != pending.get("state"):
        raise ConsoleError(
            400,
            "Sign-in failed",
            "This sign-in link is stale or was not started here: sign in again.",
        )
    token = _app().oidc().exchange(code, pending["verifier"], _callback_url())
    claims = _app().oidc().verify(token, nonce=pending.get("nonce"))
    lifetime = max(60, int(claims["exp"]) - int(claims.get("iat", claims["exp"] - 3600)))
    return redirect(
        safe_next(pending.get("next")),
        [_cookie(SESSION_COOKIE, token, lifetime), _cookie(LOGIN_COOKIE, "", 0)],
    )


def _pending(value: str) -> dict[str, str]:
    try:
        pending = json.loads(base64.urlsafe_b64decode(value.encode()))
    except ValueError:
        pending = None
    if not isinstance(pending, dict) or not isinstance(pending.get("verifier"), str):
        raise ConsoleError(
            400,
            "Sign-in failed",
            "The sign-in took too long or cookies are blocked: sign in again.",
        )
    return pending


@router.post("/console/logout")
def logout() -> Response[str]:
    scope()  # only a signed-in session (CSRF checked) can sign out
    return redirect("/console/signed-out", [_cookie(SESSION_COOKIE, "", 0)])


@router.get("/console/signed-out")
def signed_out() -> Response[str]:
    return render("signed_out.html", provider_logout=_app().oidc().end_session_url())
