"""A dev OpenID Connect provider in the local gateway (`/_local/oidc/`), for the console.

In AWS the console signs in with the operator's identity provider (Cognito or any OIDC
provider, docs/console.md); locally this stands in for it: a sign-in page where you pick an
email and a console role, the authorization-code flow with PKCE (S256) as a real provider
runs it, and ID tokens signed by the stack's dev key (the one that signs mobile tokens), so
the console verifies them exactly as it would in AWS. Local development only.

`DevOidcProvider.handle` is the whole HTTP surface: (status, body, headers), no sockets.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from nudge_local.auth import mint_token

PREFIX = "/_local/oidc"
ROLES = ("viewer", "marketer", "privacy")
CODE_TTL_S = 60
TOKEN_TTL_S = 3600
KEY_ID = "nudge-local"  # mint_token's kid
DEFAULT_EMAIL = "dev@example.com"
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 section 4.1
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}$")
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")

Answer = tuple[int, bytes, dict[str, str]]


class OidcError(Exception):
    """A refused request: 400 with OAuth's `error` and a description naming the parameter."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    nonce: str | None
    email: str
    role: str
    expires_at: float


def subject_of(email: str) -> str:
    """A stable `sub` per email (case-insensitive), as a provider keeps one per account."""
    return "local-" + hashlib.sha256(email.strip().lower().encode()).hexdigest()[:16]


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class DevOidcProvider:
    """One stack's provider: `gateway_url` is its own origin (http://host:port)."""

    def __init__(
        self,
        gateway_url: str,
        issuer: str,
        private_pem: bytes,
        client_ids: set[str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.gateway_url = gateway_url.rstrip("/")
        self.issuer = issuer
        self.private_pem = private_pem
        self.client_ids = {c for c in client_ids if c}
        self.clock = clock
        self._codes: dict[str, _Grant] = {}
        self._lock = threading.Lock()

    # ---------- documents ----------
    def discovery(self) -> dict[str, Any]:
        base = f"{self.gateway_url}{PREFIX}"
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "jwks_uri": f"{base}/jwks",
            "end_session_endpoint": f"{base}/logout",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "scopes_supported": ["openid", "email", "profile"],
            "code_challenge_methods_supported": ["S256"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "claims_supported": ["sub", "email", "cognito:groups", "nonce"],
        }

    def jwks(self) -> dict[str, Any]:
        key = serialization.load_pem_private_key(self.private_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TypeError("the stack's signing key is not an RSA key")
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        return {"keys": [{**jwk, "kid": KEY_ID, "alg": "RS256", "use": "sig"}]}

    # ---------- HTTP ----------
    def handle(
        self, method: str, path: str, query: str, body: bytes, headers: dict[str, str]
    ) -> Answer:
        host = {k.lower(): v for k, v in headers.items()}.get("host", "")
        params = dict(parse_qsl(query, keep_blank_values=True))
        try:
            if path == f"{PREFIX}/.well-known/openid-configuration" and method == "GET":
                return _json(200, self.discovery())
            if path == f"{PREFIX}/jwks" and method == "GET":
                return _json(200, self.jwks())
            if path == f"{PREFIX}/authorize" and method == "GET":
                return _html(200, self._sign_in_page(self._authorization(params, host)))
            if path == f"{PREFIX}/authorize" and method == "POST":
                form = _form(body)
                return 302, b"", {"location": self._grant(form, host)}
            if path == f"{PREFIX}/token" and method == "POST":
                return _json(200, self._token(_form(body)), {"cache-control": "no-store"})
            if path == f"{PREFIX}/logout" and method == "GET":
                return _html(200, self._signed_out_page(params, host))
        except OidcError as error:
            if path.endswith("/token"):
                return _json(
                    400,
                    {"error": error.error, "error_description": error.description},
                    {"cache-control": "no-store"},
                )
            return _html(400, _page("Sign-in refused", f"<p id='error'>{_e(str(error))}</p>"))
        return _json(404, {"message": f"no local endpoint {method} {path}"})

    # ---------- the flow ----------
    def _authorization(self, params: dict[str, str], host: str) -> dict[str, str]:
        """The authorization request's parameters, checked (OidcError names the bad one)."""
        if params.get("response_type") != "code":
            raise OidcError("unsupported_response_type", "response_type: only 'code' is supported")
        client_id = params.get("client_id", "")
        if client_id not in self.client_ids:
            raise OidcError("invalid_client", f"client_id: unknown client {client_id!r}")
        self._check_redirect(params.get("redirect_uri", ""), host)
        if params.get("code_challenge_method") != "S256":
            raise OidcError("invalid_request", "code_challenge_method: must be S256 (PKCE)")
        if not re.fullmatch(r"[A-Za-z0-9_-]{43}", params.get("code_challenge", "")):
            raise OidcError(
                "invalid_request", "code_challenge: must be base64url(sha256(verifier))"
            )
        if "openid" not in params.get("scope", "").split():
            raise OidcError("invalid_scope", "scope: must include 'openid'")
        keep = ("client_id", "redirect_uri", "state", "nonce", "code_challenge")
        return {k: params[k] for k in keep if k in params} | {
            "response_type": "code",
            "code_challenge_method": "S256",
            "scope": params["scope"],
        }

    def _check_redirect(self, redirect_uri: str, host: str) -> None:
        """Codes go only to the gateway's own origin (as reached: 127.0.0.1 or localhost)."""
        if not redirect_uri:
            raise OidcError("invalid_request", "redirect_uri: missing")
        parts = urlsplit(redirect_uri)
        origin = f"{parts.scheme}://{parts.netloc}"
        own = urlsplit(self.gateway_url)
        allowed = {self.gateway_url}
        requested = urlsplit(f"http://{host}") if host else None
        if requested and requested.hostname in _LOOPBACK and requested.port == own.port:
            allowed.add(f"http://{host}")
        if origin not in allowed or parts.fragment:
            raise OidcError(
                "invalid_request",
                f"redirect_uri: {redirect_uri!r} is not on this gateway's origin "
                f"({self.gateway_url})",
            )

    def _grant(self, form: dict[str, str], host: str) -> str:
        request = self._authorization(form, host)
        email = form.get("email", "").strip()
        if not _EMAIL.match(email):
            raise OidcError("invalid_request", "email: enter an address like dev@example.com")
        role = form.get("role", "")
        if role not in ROLES:
            raise OidcError("invalid_request", f"role: must be one of {', '.join(ROLES)}")
        code = secrets.token_urlsafe(32)
        grant = _Grant(
            request["client_id"],
            request["redirect_uri"],
            request["code_challenge"],
            request.get("nonce"),
            email,
            role,
            self.clock() + CODE_TTL_S,
        )
        with self._lock:
            now = self.clock()
            for stale in [c for c, g in self._codes.items() if g.expires_at <= now]:
                del self._codes[stale]
            self._codes[code] = grant
        answer = {"code": code} | ({"state": form["state"]} if "state" in form else {})
        separator = "&" if urlsplit(request["redirect_uri"]).query else "?"
        return f"{request['redirect_uri']}{separator}{urlencode(answer)}"

    def _token(self, form: dict[str, str]) -> dict[str, Any]:
        if form.get("grant_type") != "authorization_code":
            raise OidcError("unsupported_grant_type", "grant_type: must be authorization_code")
        code = form.get("code", "")
        if not code:
            raise OidcError("invalid_request", "code: missing")
        with self._lock:  # single use: whatever happens next, this code is spent
            grant = self._codes.pop(code, None)
        if grant is None:
            raise OidcError("invalid_grant", "code: unknown, already used or expired")
        if grant.expires_at <= self.clock():
            raise OidcError("invalid_grant", f"code: expired (codes last {CODE_TTL_S} s)")
        if form.get("client_id") != grant.client_id:
            raise OidcError("invalid_grant", "client_id: not the client the code was issued to")
        if form.get("redirect_uri") != grant.redirect_uri:
            raise OidcError("invalid_grant", "redirect_uri: not the one of the authorization")
        verifier = form.get("code_verifier", "")
        if not _VERIFIER.match(verifier):
            raise OidcError("invalid_request", "code_verifier: missing or malformed (RFC 7636)")
        if not secrets.compare_digest(s256(verifier), grant.challenge):
            raise OidcError("invalid_grant", "code_verifier: does not match the code_challenge")
        claims: dict[str, Any] = {"email": grant.email, "cognito:groups": [grant.role]}
        if grant.nonce:
            claims["nonce"] = grant.nonce
        sub = subject_of(grant.email)
        id_token = mint_token(
            self.private_pem, sub, self.issuer, grant.client_id, TOKEN_TTL_S, **claims
        )
        access_token = mint_token(
            self.private_pem,
            sub,
            self.issuer,
            grant.client_id,
            TOKEN_TTL_S,
            token_use="access",  # noqa: S106 - a claim, not a password
            scope="openid email profile",
        )
        return {
            "id_token": id_token,
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL_S,
        }

    # ---------- pages ----------
    def _sign_in_page(self, request: dict[str, str]) -> str:
        hidden = "".join(
            f'<input type="hidden" name="{_e(k)}" value="{_e(v)}">' for k, v in request.items()
        )
        options = "".join(f'<option value="{r}">{r}</option>' for r in ROLES)
        body = f"""
<p class="warning">Local development only — in AWS you sign in with your identity provider.</p>
<form method="post" action="{PREFIX}/authorize">
  {hidden}
  <label for="email">Email</label>
  <input id="email" name="email" type="email" value="{DEFAULT_EMAIL}" required>
  <label for="role">Console role</label>
  <select id="role" name="role">{options}</select>
  <button id="sign-in" type="submit">Sign in</button>
</form>
<p>Signing in as <code>{_e(request["client_id"])}</code>; the ID token carries your email and
the role as <code>cognito:groups</code>.</p>"""
        return _page("Nudge local sign-in", body)

    def _signed_out_page(self, params: dict[str, str], host: str) -> str:
        back = params.get("post_logout_redirect_uri", "")
        link = ""
        if back:
            self._check_redirect(back, host)
            link = f'<p><a id="back" href="{_e(back)}">Back to the console</a></p>'
        return _page(
            "Signed out",
            "<p>Signed out of the local dev sign-in (it keeps no session: the next sign-in "
            f"asks again).</p>{link}",
        )


def _form(body: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError as error:
        raise OidcError("invalid_request", "body: not a UTF-8 form") from error


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _page(title: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font-family: system-ui, sans-serif; max-width: 28rem; margin: 3rem auto; padding: 0 1rem; }}
.warning {{ background: #fff4d6; border: 1px solid #e0b84c; padding: .6rem; }}
label, input, select, button {{ display: block; width: 100%; margin: .4rem 0; }}
input, select, button {{ padding: .45rem; font-size: 1rem; box-sizing: border-box; }}
</style></head>
<body><h1>{_e(title)}</h1>{body}</body></html>"""


def _html(status: int, text: str) -> Answer:
    return status, text.encode(), {"content-type": "text/html; charset=utf-8"}


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Answer:
    return (
        status,
        json.dumps(payload).encode(),
        {"content-type": "application/json", **(headers or {})},
    )
