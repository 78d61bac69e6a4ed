"""Who is signed in and what they may do: roles from the ID token, permissions, CSRF.

Pure functions: the ID token's signature is checked in oidc.py before any claim is read here.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SESSION_COOKIE = "nudge_console"
LOGIN_COOKIE = "nudge_console_login"  # PKCE verifier, state, nonce and `next` while signing in
COOKIE_PATH = "/console"
LOGIN_TTL_S = 600
ROLES = ("viewer", "marketer", "privacy")

# action -> the roles allowed to do it; checked on the server for every request
PERMISSIONS: dict[str, frozenset[str]] = {
    "read": frozenset(ROLES),
    "configs.change": frozenset({"marketer"}),
    "campaigns.pause": frozenset({"marketer"}),
    "campaigns.preview": frozenset({"marketer"}),
    "broadcasts.send": frozenset({"marketer"}),
    "users.view": frozenset({"marketer", "privacy"}),
    "users.export": frozenset({"privacy"}),
    "users.erase": frozenset({"privacy"}),
}


@dataclass(frozen=True)
class Principal:
    sub: str
    email: str
    roles: frozenset[str]
    token: str  # the ID token itself: the session, and what the CSRF token is bound to
    expires_at: int

    def can(self, action: str) -> bool:
        return bool(self.roles & PERMISSIONS[action])

    @property
    def label(self) -> str:
        return self.email or self.sub

    def audit_actor(self) -> dict[str, Any]:
        return {"console_sub": self.sub, "console_email": self.email, "roles": sorted(self.roles)}


def roles_from_claims(claims: Mapping[str, Any], claim: str) -> frozenset[str]:
    """Console roles in `claim`: a list (Cognito groups) or a space/comma separated string."""
    value = claims.get(claim)
    if isinstance(value, str):
        values = value.replace(",", " ").split()
    elif isinstance(value, list | tuple):
        values = [v for v in value if isinstance(v, str)]
    else:
        values = []
    return frozenset(v.strip().lower() for v in values) & frozenset(ROLES)


def principal_from_claims(claims: Mapping[str, Any], claim: str, token: str) -> Principal:
    email = claims.get("email")
    return Principal(
        sub=str(claims.get("sub", "")),
        email=email if isinstance(email, str) else "",
        roles=roles_from_claims(claims, claim),
        token=token,
        expires_at=int(claims.get("exp", 0)),
    )


def csrf_token(session_token: str) -> str:
    """Bound to the HttpOnly session: a page on another site can't read it, so can't forge it."""
    return hashlib.sha256(f"nudge-console-csrf:{session_token}".encode()).hexdigest()


def csrf_ok(session_token: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(csrf_token(session_token), str(given))


def same_origin(origin: str | None, host: str | None) -> bool:
    """A present Origin header must name this host (browsers send it on every POST)."""
    if not origin:
        return True
    if origin == "null" or not host:
        return False
    return urlsplit(origin).netloc.lower() == host.lower()


def safe_next(target: str | None) -> str:
    """Where to go after signing in: only a console path on this site, never elsewhere."""
    default = "/console/campaigns"
    if not target or not target.startswith(COOKIE_PATH) or "//" in target or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


def is_loopback(host: str | None) -> bool:
    """A local stack's host: cookies there can't be Secure (plain http)."""
    name = (host or "").rsplit(":", 1)[0].strip("[]").lower()
    return name in ("127.0.0.1", "localhost", "::1")
