"""Local credentials: JWTs signed by a dev key (mobile routes) and SigV4 (admin routes)."""

from __future__ import annotations

import calendar
import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

LOCAL_ISSUER = "https://nudge.local/issuer"
LOCAL_AUDIENCE = "nudge-local-app"
SIGV4_SERVICE = "execute-api"
MAX_SIGNATURE_AGE_S = 15 * 60


class AuthError(Exception):
    pass


def generate_private_key_pem() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_key_pem(private_pem: bytes) -> bytes:
    key = serialization.load_pem_private_key(private_pem, password=None)
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@lru_cache(maxsize=8)
def _private_key(private_pem: bytes) -> Any:
    """Loading an RSA key runs consistency checks that cost ~30 ms: do it once per key."""
    return serialization.load_pem_private_key(private_pem, password=None)


def mint_token(
    private_pem: bytes,
    user_id: str,
    issuer: str = LOCAL_ISSUER,
    audience: str = LOCAL_AUDIENCE,
    ttl_s: int = 3600,
    **claims: Any,
) -> str:
    now = int(time.time())
    payload = {"sub": user_id, "iss": issuer, "aud": audience, "iat": now, "exp": now + ttl_s}
    payload.update(claims)
    return jwt.encode(
        payload, _private_key(private_pem), algorithm="RS256", headers={"kid": "nudge-local"}
    )


def verify_token(
    header: str | None, public_pem: bytes, issuer: str, audiences: list[str]
) -> dict[str, Any]:
    """What API Gateway's JWT authorizer checks: signature, exp, iss, aud. Returns the claims."""
    if not header:
        raise AuthError("missing Authorization header")
    token = header.removeprefix("Bearer ").strip()
    try:
        return jwt.decode(
            token,
            public_pem,
            algorithms=["RS256"],
            issuer=issuer,
            audience=audiences,
            options={"require": ["exp", "iss", "sub"]},
        )
    except jwt.PyJWTError as error:
        raise AuthError(str(error)) from error


@dataclass(frozen=True)
class AdminCredential:
    access_key: str
    secret_key: str
    region: str


def sign_request(
    credential: AdminCredential, method: str, url: str, body: bytes, headers: dict[str, str]
) -> dict[str, str]:
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    SigV4Auth(
        Credentials(credential.access_key, credential.secret_key), SIGV4_SERVICE, credential.region
    ).add_auth(request)
    return dict(request.headers.items())


def _sigv4_fields(headers: dict[str, str]) -> dict[str, str]:
    lowered = {k.lower(): v for k, v in headers.items()}
    authorization = lowered.get("authorization", "")
    if not authorization.startswith("AWS4-HMAC-SHA256 "):
        raise AuthError("missing SigV4 Authorization header")
    try:
        return dict(
            part.strip().split("=", 1)
            for part in authorization[len("AWS4-HMAC-SHA256 ") :].split(",")
        )
    except ValueError as error:
        raise AuthError("malformed SigV4 Authorization header") from error


def signing_access_key(headers: dict[str, str]) -> str:
    """The access key a SigV4 request says it is signed with (not yet verified)."""
    return _sigv4_fields(headers).get("Credential", "").split("/", 1)[0]


def verify_sigv4(
    credential: AdminCredential, method: str, url: str, headers: dict[str, str], body: bytes
) -> str:
    """Recompute the SigV4 signature over the signed headers; return the caller's access key."""
    lowered = {k.lower(): v for k, v in headers.items()}
    fields = _sigv4_fields(headers)
    access_key = fields.get("Credential", "").split("/", 1)[0]
    if not hmac.compare_digest(access_key, credential.access_key):
        raise AuthError("unknown access key")
    amz_date = lowered.get("x-amz-date", "")
    try:
        signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    except ValueError as error:
        raise AuthError("missing or malformed X-Amz-Date") from error
    if abs(time.time() - signed_at) > MAX_SIGNATURE_AGE_S:
        raise AuthError("signature expired")
    # botocore trusts x-amz-content-sha256 as the payload hash: make it prove the body
    declared = lowered.get("x-amz-content-sha256")
    if declared is not None and declared != hashlib.sha256(body).hexdigest():
        raise AuthError("x-amz-content-sha256 does not match the body")
    signed = fields.get("SignedHeaders", "").split(";")
    request = AWSRequest(
        method=method, url=url, data=body, headers={h: lowered[h] for h in signed if h in lowered}
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(
        Credentials(credential.access_key, credential.secret_key), SIGV4_SERVICE, credential.region
    )
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, fields.get("Signature", "")):
        raise AuthError("signature does not match")
    return access_key


def host_of(url: str) -> str:
    return urlsplit(url).netloc


def write_secret(path: Path, data: bytes) -> None:
    """Write a file only its owner can read, from the first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data)
