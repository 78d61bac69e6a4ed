"""Sign-in, roles, CSRF and the pages' common behaviour, over fakes (conftest.py)."""

from __future__ import annotations

import base64
import json

import pytest

from nudge.console import charts
from nudge.console.session import (
    PERMISSIONS,
    csrf_ok,
    csrf_token,
    roles_from_claims,
    safe_next,
    same_origin,
)
from nudge.console.views.common import parse_form
from tests.unit.console.conftest import Console


def test_signed_out_get_is_sent_to_sign_in_with_the_page_to_return_to(console: Console) -> None:
    answer = console.request("GET", "/console/nps?survey=a", role=None)
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"] == "/console/login?next=%2Fconsole%2Fnps%3Fsurvey%3Da"


def test_signed_out_post_is_refused_and_changes_nothing(console: Console) -> None:
    answer = console.request("POST", "/console/logout", role=None, form={"csrf": "x"})
    assert answer["statusCode"] == 401
    assert console.admin.calls == []


def test_a_forged_session_cookie_is_not_a_session(console: Console) -> None:
    event_cookie = {"cookie": "nudge_console=forged"}
    answer = console.request("GET", "/console/campaigns", role=None, headers=event_cookie)
    assert answer["statusCode"] == 303


def test_an_account_without_a_console_role_gets_a_page_saying_so(console: Console) -> None:
    answer = console.request("GET", "/console/campaigns", role=())
    assert answer["statusCode"] == 403
    assert "cognito:groups" in answer["body"]


@pytest.mark.parametrize("csrf", ["", "0" * 64])
def test_post_without_the_sessions_csrf_token_is_refused(console: Console, csrf: str) -> None:
    answer = console.request("POST", "/console/logout", form={"csrf": csrf}, csrf=False)
    assert answer["statusCode"] == 403
    assert "another site" in answer["body"]


def test_post_from_another_origin_is_refused_even_with_the_token(console: Console) -> None:
    answer = console.request("POST", "/console/logout", headers={"origin": "https://evil.example"})
    assert answer["statusCode"] == 403


def test_sign_out_clears_the_session_cookie(console: Console) -> None:
    answer = console.request(
        "POST", "/console/logout", headers={"origin": "https://console.example.com"}
    )
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"] == "/console/signed-out"
    (cookie,) = answer["cookies"]
    assert cookie.startswith("nudge_console=;") and "Max-Age=0" in cookie


def test_login_sets_a_short_lived_pkce_cookie_and_goes_to_the_provider(console: Console) -> None:
    answer = console.request("GET", "/console/login?next=%2Fconsole%2Fnps", role=None)
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"].startswith("https://idp.example.com/authorize")
    (cookie,) = answer["cookies"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "Max-Age=600" in cookie
    pending = json.loads(base64.urlsafe_b64decode(cookie.split(";")[0].split("=", 1)[1]))
    assert pending["next"] == "/console/nps"


def test_callback_with_a_state_that_was_not_started_here_is_refused(console: Console) -> None:
    pending = base64.urlsafe_b64encode(
        json.dumps(
            {"verifier": "v", "state": "mine", "nonce": "n", "next": "/console/nps"}
        ).encode()
    ).decode()
    answer = console.request(
        "GET",
        "/console/callback?code=c&state=theirs",
        role=None,
        headers={"cookie": f"nudge_console_login={pending}"},
    )
    assert answer["statusCode"] == 400


def test_callback_sets_the_session_and_returns_to_the_page(console: Console) -> None:
    token = console.oidc.token_for("marketer")
    pending = base64.urlsafe_b64encode(
        json.dumps({"verifier": "v", "state": "s", "nonce": None, "next": "/console/nps"}).encode()
    ).decode()
    event_headers = {"cookie": f"nudge_console_login={pending}"}
    answer = console.request(
        "GET", f"/console/callback?code={token}&state=s", role=None, headers=event_headers
    )
    assert answer["statusCode"] == 303, answer["body"]
    assert answer["headers"]["Location"] == "/console/nps"
    session = next(c for c in answer["cookies"] if c.startswith("nudge_console="))
    assert token in session and "HttpOnly" in session and "SameSite=Lax" in session


def test_roles_come_from_a_list_or_a_string_claim_and_unknown_ones_are_ignored() -> None:
    assert roles_from_claims({"groups": ["Marketer", "admins"]}, "groups") == {"marketer"}
    assert roles_from_claims({"roles": "viewer, privacy"}, "roles") == {"viewer", "privacy"}
    assert roles_from_claims({"roles": 7}, "roles") == frozenset()


def test_permissions_keep_erasure_to_privacy_and_changes_to_marketers() -> None:
    assert PERMISSIONS["users.erase"] == {"privacy"}
    assert "viewer" not in PERMISSIONS["campaigns.pause"]
    assert "marketer" not in PERMISSIONS["users.export"]


def test_csrf_token_is_bound_to_the_session() -> None:
    assert csrf_ok("a", csrf_token("a"))
    assert not csrf_ok("b", csrf_token("a"))
    assert not csrf_ok("a", None)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/console/nps", "/console/nps"),
        ("https://evil.example/console", "/console/campaigns"),
        ("//evil.example/console", "/console/campaigns"),
        ("/console//evil.example", "/console/campaigns"),
        ("/admin/v1/users", "/console/campaigns"),
        (None, "/console/campaigns"),
    ],
)
def test_after_sign_in_only_console_paths_are_followed(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_same_origin_accepts_no_header_and_refuses_null_or_other_hosts() -> None:
    assert same_origin(None, "a.example")
    assert same_origin("https://a.example", "a.example")
    assert not same_origin("null", "a.example")
    assert not same_origin("https://b.example", "a.example")


def test_multipart_upload_is_parsed_into_fields_and_files() -> None:
    body = (
        b'--XX\r\nContent-Disposition: form-data; name="kind"\r\n\r\ncampaign\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.yaml"\r\n'
        b"Content-Type: application/x-yaml\r\n\r\nid: a\nname: A\n\r\n--XX--\r\n"
    )
    fields, files = parse_form("multipart/form-data; boundary=XX", body)
    assert fields == {"kind": ["campaign"]}
    assert files == {"file": ("a.yaml", b"id: a\nname: A\n")}


def test_static_files_are_served_and_unknown_ones_are_404(console: Console) -> None:
    css = console.request("GET", "/console/static/console.css", role=None)
    assert css["statusCode"] == 200 and css["headers"]["Content-Type"].startswith("text/css")
    assert console.request("GET", "/console/static/../app.py", role=None)["statusCode"] == 404


def test_every_page_sends_a_strict_content_security_policy(console: Console) -> None:
    answer = console.request("GET", "/console/no-such-page")
    assert answer["statusCode"] == 404
    assert "script-src 'self'" in answer["headers"]["Content-Security-Policy"]


def test_charts_escape_labels_and_say_when_there_is_no_data() -> None:
    assert "no data yet" in charts.sparkline([], "sends")
    drawn = charts.line_chart([("<b>", 1.0, 0.5, 1.5), ("d2", 2.0, 1.0, 3.0)], "NPS", "score")
    assert "&lt;b&gt;" in drawn and "<polygon" in drawn
    assert "nothing to show" in charts.bars([], "Suppressions")


def test_a_page_that_fails_is_a_logged_500_page_not_a_crash(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nudge.console.views import sunset

    def broken(*_: object, **__: object) -> object:
        raise KeyError("boom")

    monkeypatch.setattr(sunset, "admin_json", broken)
    answer = console.request("GET", "/console/sunset")
    assert answer["statusCode"] == 500
    assert "Something went wrong" in answer["body"] and "boom" not in answer["body"]
