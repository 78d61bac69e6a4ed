"""Users pages over fakes: lookup, the user's profile/devices/consent/decisions, export as a
file, erase after the id is typed back; who may do what, and the admin API's refusals shown."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from nudge.console.admin_client import AdminAnswer
from tests.unit.console.conftest import Console

DATA = Path(__file__).parent / "data"
# trimmed copies of the demo stack's real answers for a commuter who opted in to marketing
# and location (one interest added from a planner's real export)
EXPORT = json.loads((DATA / "users_export.json").read_text())
DECISIONS = json.loads((DATA / "users_decisions.json").read_text())
UID = EXPORT["user_id"]
USER = f"/admin/v1/users/{UID}"
UNKNOWN: dict[str, Any] = {
    "user_id": "nobody-here",
    "profile": None,
    "devices": [],
    "preferences": None,
    "summary": None,
    "surveys": {"states": [], "responses": []},
    "deliveries": [],
    "broadcasts": [],
    "history": [],
    "history_next": None,
}
ERASURE = {
    "profile_erased": True,
    "history_records_erased": 149,
    "device_records_erased": 2,
    "survey_records_erased": 3,
    "delivery_records_erased": 7,
    "broadcasts_erased_from": 0,
}


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The console's audit lines (the fields Powertools puts on the JSON line)."""
    keys = ("actor", "action", "target", "status")
    return [
        {k: getattr(r, k) for k in keys}
        for r in caplog.records
        if r.name == "nudge-audit" and r.getMessage() == "console change"
    ]


def serve(console: Console, export: dict[str, Any] | None = None) -> None:
    console.admin.on("GET", USER, export or EXPORT)
    console.admin.on("GET", f"{USER}/decisions", DECISIONS)


def test_lookup_form_goes_to_the_users_page(console: Console) -> None:
    page = console.page("/console/users", role="marketer")
    assert 'id="user-id"' in page and 'id="lookup"' in page and 'for="user-id"' in page
    answer = console.request("GET", "/console/users?id=+auth0%7Cabc%2F1+", role="privacy")
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"] == "/console/users/auth0%7Cabc%2F1"
    blank = console.request("GET", "/console/users?id=+", role="marketer")
    assert blank["statusCode"] == 400 and "user id: enter 1 to 256 characters" in blank["body"]
    assert console.admin.calls == []


@pytest.mark.parametrize(
    "path",
    [
        "/console/users",
        f"/console/users/{UID}",
        f"/console/users/{UID}/export",
        f"/console/users/{UID}/erase",
        f"/console/users/{UID}/erased",
    ],
)
def test_a_viewer_gets_the_403_page_on_every_users_route(console: Console, path: str) -> None:
    serve(console)
    answer = console.request("GET", path, role="viewer")
    assert answer["statusCode"] == 403 and "Not allowed" in answer["body"]
    assert console.admin.calls == []


def test_user_page_shows_profile_devices_consent_and_decisions(console: Console) -> None:
    serve(console)
    page = console.page(f"/console/users/{UID}", role="marketer")
    profile = page.split('data-testid="profile"')[1].split('data-testid="devices"')[0]
    assert 'data-testid="stage">loyal<' in profile
    assert "weekend_trips" in profile  # the summary's top interest
    assert "Europe/Amsterdam</strong> (from the attribute)" in profile
    assert "52.089, 5.11 (coarsened to ~100 m)" in profile
    assert "stations/nl-utrecht-centraal (inside since" in profile
    screen_views = EXPORT["profile"]["counts"]["screen_view"]["total"]
    assert f'<td>screen_view</td><td class="num" data-sort="{screen_views}">' in profile
    devices = page.split('data-testid="devices"')[1].split('data-testid="consent"')[0]
    tail = EXPORT["devices"][0]["token_tail"]
    assert f'shown">…{tail}</code>' in devices and 'data-testid="token"' in devices
    assert "<td>android</td>" in devices and '<span class="good">allowed</span>' in devices
    consent = page.split('data-testid="consent"')[1].split('data-testid="decisions"')[0]
    in_force, trail = consent.split('data-testid="consent-trail"')
    assert in_force.count("<tr><td>") == 2  # marketing and location, both granted in the app
    assert trail.count("<tr><td") == 2  # the two changes that granted them
    assert 'refused → <strong class="good">granted</strong>' in consent
    assert "<td>location</td>" in consent and "<td>app</td>" in consent
    decisions = page.split('data-testid="decisions"')[1]
    assert decisions.count('data-testid="decision"') == len(DECISIONS["decisions"])
    first = DECISIONS["decisions"][0]
    assert first["explanation"].replace("'", "&#39;") in decisions
    assert '<option value="station-departures">' in decisions
    assert "Not recorded: outside the audience" in decisions
    assert '<span class="verdict good">sent</span>' in decisions
    assert '<span class="verdict bad">suppress</span>' in decisions
    # a marketer may look, not export or erase: no links
    assert 'id="export"' not in page and 'id="erase"' not in page
    assert [c[:2] for c in console.admin.calls] == [("GET", USER), ("GET", f"{USER}/decisions")]


def test_decisions_filtered_by_campaign(console: Console) -> None:
    serve(console)
    page = console.page(f"/console/users/{UID}?campaign=weekly-digest", role="privacy")
    decisions = page.split('data-testid="decisions"')[1]
    wanted = [d for d in DECISIONS["decisions"] if d["id"] == "weekly-digest"]
    assert 0 < len(wanted) < len(DECISIONS["decisions"])
    assert decisions.count('data-testid="decision"') == len(wanted)
    assert '<option value="weekly-digest" selected>' in decisions
    none = console.page(f"/console/users/{UID}?campaign=spring-sale", role="privacy")
    assert "No decision recorded about spring-sale" in none


def test_privacy_sees_export_and_erase_links(console: Console) -> None:
    serve(console)
    page = console.page(f"/console/users/{UID}", role="privacy")
    assert f'id="export" href="/console/users/{UID}/export"' in page
    assert f'id="erase" href="/console/users/{UID}/erase"' in page


def test_a_user_with_little_data_gets_the_empty_states(console: Console) -> None:
    bare = copy.deepcopy(UNKNOWN)
    bare["preferences"] = {"user_id": "u", "categories": {}, "consents": {}, "quiet_hours": None}
    serve(console, bare)
    console.admin.on("GET", f"{USER}/decisions", {"decisions": [], "not_recorded": ""})
    page = console.page(f"/console/users/{UID}", role="marketer")
    assert "No profile is stored" in page
    assert "No device registered" in page
    assert "The user set no preference" in page and "No consent change" in page
    assert "No decision recorded for this user" in page


def test_unknown_user_is_a_404_with_the_lookup_form(console: Console) -> None:
    console.admin.on("GET", "/admin/v1/users/nobody-here", UNKNOWN)
    answer = console.request("GET", "/console/users/nobody-here", role="marketer")
    assert answer["statusCode"] == 404
    assert "no such user" in answer["body"] and 'id="user-id"' in answer["body"]
    assert 'value="nobody-here"' in answer["body"]


def test_the_admin_apis_refusal_is_shown_not_a_500(console: Console) -> None:
    refusal = {"statusCode": 400, "message": "user_id: '$' starts reserved keys, not user ids"}
    console.admin.on("GET", "/admin/v1/users/%24x", refusal, 400)
    answer = console.request("GET", "/console/users/%24x", role="marketer")
    assert answer["statusCode"] == 400
    assert "user_id: &#39;$&#39; starts reserved keys" in answer["body"]
    console.admin.on("GET", USER, {"message": "boom"}, 503)
    assert console.request("GET", f"/console/users/{UID}", role="marketer")["statusCode"] == 502


def test_a_failing_decision_trail_leaves_the_rest_of_the_page(console: Console) -> None:
    serve(console)
    console.admin.on("GET", f"{USER}/decisions", {"message": "Internal Server Error"}, 500)
    answer = console.request("GET", f"/console/users/{UID}", role="marketer")
    assert answer["statusCode"] == 200
    page = answer["body"]
    assert 'data-testid="decisions-error"' in page
    assert "The admin API refused (500): Internal Server Error" in page
    assert 'data-testid="stage">loyal<' in page and 'data-testid="token"' in page


def test_ids_are_decoded_from_the_path_and_encoded_again_for_the_admin_api(
    console: Console,
) -> None:
    console.admin.on("GET", "/admin/v1/users/auth0%7Cabc%2F1", UNKNOWN)
    console.request("GET", "/console/users/auth0%7Cabc%2F1", role="marketer")
    assert console.admin.calls[0][1] == "/admin/v1/users/auth0%7Cabc%2F1"


def test_history_pages_are_linked(console: Console) -> None:
    serve(console, {**EXPORT, "history_next": "cursor/1"})
    page = console.page(f"/console/users/{UID}", role="marketer")
    assert f'id="history-next" href="/console/users/{UID}?history_after=cursor%2F1"' in page
    console.page(f"/console/users/{UID}?history_after=cursor%2F1", role="marketer")
    assert console.admin.calls[-2][3] == {"history_after": "cursor/1"}


def test_export_downloads_every_history_page_and_is_audited(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    older = [{"type": "event", "event_id": "e-old", "name": "app_open"}]

    def pages(method: str, path: str, body: Any, query: dict[str, str] | None) -> AdminAnswer:
        if query and query.get("history_after") == "next-1":
            return AdminAnswer(200, {**EXPORT, "history": older, "history_next": None})
        return AdminAnswer(200, {**EXPORT, "history_next": "next-1"})

    console.admin.on("GET", USER, pages)
    with caplog.at_level(logging.INFO):
        answer = console.request("GET", f"/console/users/{UID}/export", role="privacy")
    assert answer["statusCode"] == 200
    assert answer["headers"]["Content-Type"] == "application/json"
    assert (
        answer["headers"]["Content-Disposition"] == f'attachment; filename="nudge-user-{UID}.json"'
    )
    exported = json.loads(answer["body"])
    assert exported["history"] == EXPORT["history"] + older
    assert exported["history_next"] is None and exported["devices"] == EXPORT["devices"]
    (line,) = audit_lines(caplog)
    assert (line["action"], line["status"], line["target"]) == (
        "users.export",
        200,
        {"user_id": UID},
    )
    assert line["actor"]["roles"] == ["privacy"]


def test_export_is_refused_to_a_marketer_and_the_file_name_is_safe(console: Console) -> None:
    serve(console)
    assert (
        console.request("GET", f"/console/users/{UID}/export", role="marketer")["statusCode"] == 403
    )
    assert console.admin.calls == []
    console.admin.on("GET", "/admin/v1/users/a%22b%3Bc", {**EXPORT, "user_id": 'a"b;c'})
    answer = console.request("GET", "/console/users/a%22b%3Bc/export", role="privacy")
    assert 'filename="nudge-user-a_b_c.json"' in answer["headers"]["Content-Disposition"]


def test_export_of_an_unknown_user_is_a_404(console: Console) -> None:
    console.admin.on("GET", "/admin/v1/users/nobody-here", UNKNOWN)
    answer = console.request("GET", "/console/users/nobody-here/export", role="privacy")
    assert answer["statusCode"] == 404 and "no such user" in answer["body"]


def test_erase_confirmation_explains_and_holds_the_typed_id_form(console: Console) -> None:
    page = console.page(f"/console/users/{UID}/erase", role="privacy")
    assert 'data-testid="erase-explained"' in page and "cannot be undone" in page
    assert "the event history, with the campaign decision records and the consent trail" in page
    assert 'id="confirm-user-id" name="confirm_user_id"' in page and 'id="erase-confirm"' in page
    assert f'action="/console/users/{UID}/erase"' in page and 'name="csrf"' in page
    assert console.admin.calls == []


@pytest.mark.parametrize("role", ["viewer", "marketer"])
def test_erase_is_refused_to_roles_without_it(console: Console, role: str) -> None:
    console.admin.on("DELETE", USER, ERASURE)
    answer = console.request(
        "POST", f"/console/users/{UID}/erase", role=role, form={"confirm_user_id": UID}
    )
    assert answer["statusCode"] == 403
    assert console.admin.changes() == []


@pytest.mark.parametrize("typed", ["", UID.upper(), f" {UID}", "someone-else"])
def test_erase_needs_the_user_id_typed_exactly(console: Console, typed: str) -> None:
    console.admin.on("DELETE", USER, ERASURE)
    answer = console.request(
        "POST", f"/console/users/{UID}/erase", role="privacy", form={"confirm_user_id": typed}
    )
    assert answer["statusCode"] == 400
    assert "confirm_user_id: type the user id exactly" in answer["body"]
    assert 'id="erase-confirm"' in answer["body"]
    assert console.admin.changes() == []


def test_erase_calls_the_admin_api_audits_and_shows_the_counts(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    console.admin.on("DELETE", USER, ERASURE)
    with caplog.at_level(logging.INFO):
        answer = console.request(
            "POST", f"/console/users/{UID}/erase", role="privacy", form={"confirm_user_id": UID}
        )
    assert console.admin.changes() == [("DELETE", USER, None)]
    assert answer["statusCode"] == 303
    location = answer["headers"]["Location"]
    assert location.startswith(f"/console/users/{UID}/erased?profile_erased=True&")
    (line,) = audit_lines(caplog)
    assert (line["action"], line["status"], line["target"]) == (
        "users.erase",
        200,
        {"user_id": UID},
    )
    assert line["actor"]["console_email"] == "ana@example.com"
    page = console.page(location, role="privacy")
    assert 'data-testid="erased"' in page
    assert '<td class="num" data-sort="149">149</td>' in page
    assert 'data-testid="erased-profile_erased"' in page and ">yes</td>" in page


def test_the_admin_apis_refusal_of_an_erase_is_shown_on_the_form(console: Console) -> None:
    console.admin.on("DELETE", USER, {"message": "user_id: too long"}, 400)
    answer = console.request(
        "POST", f"/console/users/{UID}/erase", role="privacy", form={"confirm_user_id": UID}
    )
    assert answer["statusCode"] == 400
    assert "The admin API refused: user_id: too long" in answer["body"]
    assert 'id="confirm-user-id"' in answer["body"]
