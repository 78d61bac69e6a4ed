"""The console's pages over fakes: a signed-in person per role, and an admin API that answers
what each test gives it (recording every call), so a page's rendering, permissions and CSRF
are tested without a stack. The real sign-in and admin API run in tests/browser and tests/e2e."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest

from nudge.console import app as console_app
from nudge.console.admin_client import AdminAnswer
from nudge.console.oidc import LoginStart, SignInError
from nudge.console.session import SESSION_COOKIE, csrf_token
from nudge.console.settings import ConsoleSettings

HOST = "console.example.com"
Handler = Callable[[str, str, Any, dict[str, str] | None], AdminAnswer]


class FakeOidc:
    """Tokens are opaque names mapped to claims: `token_for(role)` signs someone in."""

    def __init__(self) -> None:
        self.claims: dict[str, dict[str, Any]] = {}

    def token_for(self, *roles: str, email: str = "ana@example.com") -> str:
        token = f"token-{email}-{'-'.join(roles) or 'none'}"
        self.claims[token] = {
            "sub": f"sub-{email}",
            "email": email,
            "cognito:groups": list(roles),
            "exp": 4_000_000_000,
            "iat": 3_999_996_400,
        }
        return token

    def verify(self, token: str, nonce: str | None = None) -> dict[str, Any]:
        if token not in self.claims:
            raise SignInError("the sign-in token was refused: unknown")
        return self.claims[token]

    def start(self, redirect_uri: str) -> LoginStart:
        return LoginStart(f"https://idp.example.com/authorize?r={redirect_uri}", "v", "s", "n")

    def exchange(self, code: str, verifier: str, redirect_uri: str) -> str:
        return code

    def end_session_url(self) -> str | None:
        return None


@dataclass
class FakeAdmin:
    """Answers by (method, path regex); every call is recorded as (method, path, body, query)."""

    routes: list[tuple[str, re.Pattern[str], Any]] = field(default_factory=list)
    calls: list[tuple[str, str, Any, dict[str, str] | None]] = field(default_factory=list)

    def on(self, method: str, pattern: str, answer: Any, status: int = 200) -> None:
        """`answer`: a JSON body, or a callable (method, path, body, query) -> AdminAnswer."""
        reply = answer if callable(answer) else AdminAnswer(status, answer)
        self.routes.insert(0, (method, re.compile(f"^{pattern}$"), reply))

    def call(
        self, method: str, path: str, body: Any = None, query: dict[str, str] | None = None
    ) -> AdminAnswer:
        self.calls.append((method, path, body, query))
        for want, pattern, reply in self.routes:
            if want == method and pattern.match(path):
                return reply(method, path, body, query) if callable(reply) else reply
        return AdminAnswer(404, {"message": f"no fake answer for {method} {path}"})

    def changes(self) -> list[tuple[str, str, Any]]:
        return [(m, p, b) for m, p, b, _ in self.calls if m != "GET"]


@dataclass
class Console:
    oidc: FakeOidc
    admin: FakeAdmin

    def request(
        self,
        method: str,
        path: str,
        role: str | tuple[str, ...] | None = "viewer",
        form: dict[str, Any] | None = None,
        csrf: bool = True,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> dict[str, Any]:
        """One request as API Gateway passes it; `role=None` is signed out. A POST carries the
        right CSRF token unless csrf=False."""
        raw_path, _, query = path.partition("?")
        cookies = []
        token = None
        if role is not None:
            roles = (role,) if isinstance(role, str) else role
            token = self.oidc.token_for(*roles)
            cookies.append(f"{SESSION_COOKIE}={token}")
        all_headers = {"host": HOST, **(headers or {})}
        # API Gateway (payload v2) passes the Cookie header as the `cookies` list
        cookies += [c.strip() for c in all_headers.pop("cookie", "").split(";") if c.strip()]
        text = None
        if body is not None:
            text = body.decode()
        elif method == "POST":
            fields = dict(form or {})
            if csrf and token is not None:
                fields.setdefault("csrf", csrf_token(token))
            text = urlencode(fields, doseq=True)
            all_headers.setdefault("content-type", "application/x-www-form-urlencoded")
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": "ANY /console/{proxy+}",
            "rawPath": raw_path,
            "rawQueryString": query,
            "headers": all_headers,
            "cookies": cookies,
            "requestContext": {
                "domainName": HOST,
                "http": {"method": method, "path": raw_path, "sourceIp": "192.0.2.1"},
                "requestId": "req-1",
                "routeKey": "ANY /console/{proxy+}",
                "stage": "$default",
            },
            "isBase64Encoded": False,
        }
        if query:
            event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
        if text is not None:
            event["body"] = text
        return console_app.handle(event, None)

    def page(self, path: str, role: str | tuple[str, ...] = "viewer") -> str:
        answer = self.request("GET", path, role)
        assert answer["statusCode"] == 200, (answer["statusCode"], answer.get("body", "")[:500])
        return str(answer["body"])


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> Console:
    fake_oidc, fake_admin = FakeOidc(), FakeAdmin()
    settings = ConsoleSettings(issuer="https://idp.example.com", client_id="console-client")
    monkeypatch.setattr(console_app, "settings", lambda: settings)
    monkeypatch.setattr(console_app, "oidc", lambda: fake_oidc)
    monkeypatch.setattr(console_app, "AdminClient", lambda base_url: fake_admin)
    return Console(fake_oidc, fake_admin)


def body_json(answer: dict[str, Any]) -> Any:
    return json.loads(answer["body"])
