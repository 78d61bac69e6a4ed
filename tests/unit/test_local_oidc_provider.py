"""The local stack's dev OIDC provider (issue 25): discovery, the sign-in page, the code flow
with PKCE, and ID tokens a relying party verifies with the published JWKS."""

from __future__ import annotations

import json
import re
import secrets
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest

from nudge_local.auth import LOCAL_ISSUER, generate_private_key_pem
from nudge_local.oidc_provider import CODE_TTL_S, DevOidcProvider, s256, subject_of

GW = "http://127.0.0.1:4321"
CLIENT = "nudge-local-console"
CALLBACK = f"{GW}/console/callback"
PRIVATE_PEM = generate_private_key_pem()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def provider(clock: Clock) -> DevOidcProvider:
    return DevOidcProvider(GW, LOCAL_ISSUER, PRIVATE_PEM, {CLIENT}, clock=clock)


def get(provider: DevOidcProvider, path: str, host: str = "127.0.0.1:4321", **query: str) -> Any:
    return provider.handle("GET", path, urlencode(query), b"", {"Host": host})


def post(provider: DevOidcProvider, path: str, form: dict[str, str]) -> Any:
    return provider.handle("POST", path, "", urlencode(form).encode(), {"Host": "127.0.0.1:4321"})


def authorization(verifier: str, **overrides: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": CLIENT,
        "redirect_uri": CALLBACK,
        "scope": "openid email profile",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": s256(verifier),
        "code_challenge_method": "S256",
        **overrides,
    }


class _Form(HTMLParser):
    """The sign-in page's form fields, as a browser would submit them."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.ids: set[str] = set()
        self.options: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "input" and a.get("name"):
            self.fields[str(a["name"])] = a.get("value") or ""
        if tag == "select" and a.get("name"):
            self.fields[str(a["name"])] = ""
        if tag == "option":
            self.options.append(str(a["value"]))


def sign_in(provider: DevOidcProvider, verifier: str, role: str = "marketer") -> str:
    """Open the sign-in page, submit its form: the code from the redirect."""
    status, body, headers = get(provider, "/_local/oidc/authorize", **authorization(verifier))
    assert status == 200 and headers["content-type"].startswith("text/html")
    form = _Form()
    form.feed(body.decode())
    status, _, headers = post(
        provider, "/_local/oidc/authorize", form.fields | {"role": role, "email": "Ann@Example.com"}
    )
    assert status == 302
    location = urlsplit(headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == CALLBACK
    answer = parse_qs(location.query)
    assert answer["state"] == ["st-1"]
    return answer["code"][0]


def exchange(provider: DevOidcProvider, code: str, verifier: str) -> tuple[int, dict[str, Any]]:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": CLIENT,
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    status, body, _ = post(provider, "/_local/oidc/token", form)
    return status, json.loads(body)


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


def test_discovery_names_the_endpoints_and_what_is_supported(provider: DevOidcProvider) -> None:
    status, body, _ = get(provider, "/_local/oidc/.well-known/openid-configuration")
    document = json.loads(body)
    assert status == 200
    assert document["issuer"] == LOCAL_ISSUER
    assert document["authorization_endpoint"] == f"{GW}/_local/oidc/authorize"
    assert document["token_endpoint"] == f"{GW}/_local/oidc/token"
    assert document["jwks_uri"] == f"{GW}/_local/oidc/jwks"
    assert document["end_session_endpoint"] == f"{GW}/_local/oidc/logout"
    assert document["response_types_supported"] == ["code"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256"]


def test_the_sign_in_page_offers_email_and_role_and_says_it_is_local(
    provider: DevOidcProvider,
) -> None:
    _, body, _ = get(provider, "/_local/oidc/authorize", **authorization(new_verifier()))
    page = body.decode()
    form = _Form()
    form.feed(page)
    assert {"email", "role", "sign-in"} <= form.ids
    assert form.fields["email"] == "dev@example.com"
    assert form.options == ["viewer", "marketer", "privacy"]
    assert "Local development only — in AWS you sign in with your identity provider" in page
    assert not re.search(r"""(src|href)=["']?https?:""", page)  # nothing fetched from outside


def test_the_code_flow_gives_an_id_token_verified_with_the_jwks(provider: DevOidcProvider) -> None:
    verifier = new_verifier()
    status, answer = exchange(provider, sign_in(provider, verifier, role="privacy"), verifier)
    assert status == 200, answer
    assert answer["token_type"] == "Bearer" and answer["expires_in"] == 3600
    assert answer["access_token"]

    _, body, _ = get(provider, "/_local/oidc/jwks")
    (jwk,) = json.loads(body)["keys"]
    assert jwk["kid"] == jwt.get_unverified_header(answer["id_token"])["kid"] == "nudge-local"
    key = jwt.PyJWK(jwk).key
    claims = jwt.decode(
        answer["id_token"], key, algorithms=["RS256"], audience=CLIENT, issuer=LOCAL_ISSUER
    )
    assert claims["nonce"] == "n-1"
    assert claims["cognito:groups"] == ["privacy"]
    assert claims["email"] == "Ann@Example.com"
    assert claims["sub"] == subject_of("ann@example.com") == subject_of(" Ann@Example.com")
    assert claims["exp"] - claims["iat"] == 3600
    with pytest.raises(jwt.InvalidAudienceError):  # not a mobile app's token
        jwt.decode(answer["id_token"], key, algorithms=["RS256"], audience="nudge-local-app")


def test_a_code_is_single_use(provider: DevOidcProvider) -> None:
    verifier = new_verifier()
    code = sign_in(provider, verifier)
    assert exchange(provider, code, verifier)[0] == 200
    status, answer = exchange(provider, code, verifier)
    assert status == 400
    assert answer["error"] == "invalid_grant" and answer["error_description"].startswith("code:")


def test_a_wrong_verifier_is_refused_and_spends_the_code(provider: DevOidcProvider) -> None:
    verifier = new_verifier()
    code = sign_in(provider, verifier)
    status, answer = exchange(provider, code, new_verifier())
    assert status == 400
    assert answer["error_description"].startswith("code_verifier:")
    assert exchange(provider, code, verifier)[0] == 400  # no second guess


def test_codes_expire_after_a_minute(provider: DevOidcProvider, clock: Clock) -> None:
    verifier = new_verifier()
    code = sign_in(provider, verifier)
    clock.now += CODE_TTL_S + 1
    status, answer = exchange(provider, code, verifier)
    assert status == 400 and "expired" in answer["error_description"]


def test_missing_or_unknown_codes_are_refused(provider: DevOidcProvider) -> None:
    for code in ("", "no-such-code"):
        status, answer = exchange(provider, code, new_verifier())
        assert status == 400 and answer["error_description"].startswith("code:")


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/console/callback",
        "http://127.0.0.1:9999/console/callback",  # another port: another origin
        "http://127.0.0.1:4321.evil.example/console/callback",
        "//evil.example/console/callback",
        "",
    ],
)
def test_a_foreign_redirect_uri_is_refused(provider: DevOidcProvider, redirect_uri: str) -> None:
    verifier = new_verifier()
    params = authorization(verifier, redirect_uri=redirect_uri)
    status, body, _ = get(provider, "/_local/oidc/authorize", **params)
    assert status == 400 and "redirect_uri" in body.decode()
    status, body, headers = post(
        provider, "/_local/oidc/authorize", params | {"email": "a@b.c", "role": "viewer"}
    )
    assert status == 400 and "location" not in headers and "redirect_uri" in body.decode()


def test_the_gateway_reached_as_localhost_is_its_own_origin(provider: DevOidcProvider) -> None:
    params = authorization(new_verifier(), redirect_uri="http://localhost:4321/console/callback")
    assert get(provider, "/_local/oidc/authorize", host="localhost:4321", **params)[0] == 200
    assert get(provider, "/_local/oidc/authorize", host="evil.example:4321", **params)[0] == 400


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("client_id", "someone-else"),
        ("code_challenge_method", "plain"),
        ("response_type", "token"),
        ("code_challenge", "short"),
        ("scope", "email"),
    ],
)
def test_bad_authorization_requests_name_the_parameter(
    provider: DevOidcProvider, field: str, value: str
) -> None:
    params = authorization(new_verifier(), **{field: value})
    status, body, _ = get(provider, "/_local/oidc/authorize", **params)
    assert status == 400 and field in body.decode()


@pytest.mark.parametrize(("field", "value"), [("role", "admin"), ("email", "not an email")])
def test_the_sign_in_form_checks_email_and_role(
    provider: DevOidcProvider, field: str, value: str
) -> None:
    form = authorization(new_verifier()) | {"email": "a@b.c", "role": "viewer", field: value}
    status, body, headers = post(provider, "/_local/oidc/authorize", form)
    assert status == 400 and field in body.decode() and "location" not in headers
