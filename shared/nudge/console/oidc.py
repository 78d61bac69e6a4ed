"""Sign-in with the stack's OIDC provider: authorization code flow with PKCE.

Discovery, the code exchange and the keys come from the provider's own documents (Cognito or
any OIDC provider; the local stack runs a dev provider at /_local/oidc/). The ID token is
verified with PyJWT: signature from the provider's JWKS, issuer, audience (the console's
client id), expiry and the nonce this sign-in chose.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import jwt

from nudge.console.settings import ConsoleSettings

HTTP_TIMEOUT_S = 5.0
DISCOVERY_TTL_S = 3600.0
CLOCK_SKEW_S = 30


class SignInError(Exception):
    """Signing in failed: the message is safe to show (no token, no secret)."""


@dataclass(frozen=True)
class LoginStart:
    url: str  # where to send the browser
    verifier: str
    state: str
    nonce: str


def _get_json(url: str, data: bytes | None = None) -> dict[str, Any]:
    request = urllib.request.Request(url, data=data)  # noqa: S310 - https (http on loopback)
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as answer:  # noqa: S310
            payload = json.loads(answer.read())
    except urllib.error.HTTPError as error:
        detail = error.read()[:300].decode("utf-8", "replace")
        raise SignInError(f"the identity provider answered {error.code}: {detail}") from error
    except (OSError, ValueError) as error:
        raise SignInError(f"the identity provider could not be reached: {error}") from error
    if not isinstance(payload, dict):
        raise SignInError("the identity provider's answer is not a JSON object")
    return payload


class OidcClient:
    def __init__(self, settings: ConsoleSettings) -> None:
        self.settings = settings
        self._discovery: tuple[float, dict[str, Any]] | None = None
        self._keys: jwt.PyJWKClient | None = None

    def discovery(self) -> dict[str, Any]:
        now = time.monotonic()
        if self._discovery is None or now - self._discovery[0] > DISCOVERY_TTL_S:
            document = _get_json(self.settings.openid_configuration_url)
            for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
                if not isinstance(document.get(field), str):
                    raise SignInError(f"the provider's discovery document has no {field}")
            self._discovery = (now, document)
        return self._discovery[1]

    def start(self, redirect_uri: str) -> LoginStart:
        verifier = secrets.token_urlsafe(48)
        challenge = (
            base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
            .rstrip(b"=")
            .decode()
        )
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": redirect_uri,
                "scope": "openid email profile",
                "state": state,
                "nonce": nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        return LoginStart(
            f"{self.discovery()['authorization_endpoint']}?{query}", verifier, state, nonce
        )

    def exchange(self, code: str, verifier: str, redirect_uri: str) -> str:
        """The ID token for an authorization code."""
        form = urlencode(
            {
                "grant_type": "authorization_code",
                "code": code,
                "client_id": self.settings.client_id,
                "redirect_uri": redirect_uri,
                "code_verifier": verifier,
            }
        ).encode()
        answer = _get_json(self.discovery()["token_endpoint"], form)
        token = answer.get("id_token")
        if not isinstance(token, str):
            raise SignInError("the identity provider returned no id_token")
        return token

    def verify(self, token: str, nonce: str | None = None) -> dict[str, Any]:
        """The ID token's claims, or SignInError (expired, forged, for another client...)."""
        try:
            key = self._signing_keys().get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=["RS256"],
                audience=self.settings.client_id,
                issuer=self.settings.issuer,
                leeway=CLOCK_SKEW_S,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise SignInError("the session has expired") from error
        except (jwt.PyJWTError, SignInError) as error:
            raise SignInError(f"the sign-in token was refused: {error}") from error
        if nonce is not None and claims.get("nonce") != nonce:
            raise SignInError("the sign-in token was refused: nonce does not match")
        return claims

    def end_session_url(self) -> str | None:
        try:
            value = self.discovery().get("end_session_endpoint")
        except SignInError:
            return None
        return value if isinstance(value, str) else None

    def _signing_keys(self) -> jwt.PyJWKClient:
        if self._keys is None:
            self._keys = jwt.PyJWKClient(
                self.discovery()["jwks_uri"], cache_keys=True, timeout=int(HTTP_TIMEOUT_S)
            )
        return self._keys
