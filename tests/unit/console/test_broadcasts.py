"""Broadcasts pages over fakes: compose, preview (campaign preview/estimate), send, progress,
cancel; who may do what, and the admin API's refusals shown on the page."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.console.conftest import Console

PROGRESS = json.loads((Path(__file__).parent / "data" / "broadcasts_progress.json").read_text())
BID = PROGRESS["broadcast_id"]
ESTIMATE = {"estimate": 150, "interval_95": [140, 160], "complete": False, "users": 150}
PREVIEW = {
    "campaign": "console-broadcast-preview",
    "user_id": "commuter-1",
    "verdict": "send",
    "rules": [
        {"rule": "audience", "passed": False, "detail": "not in segment"},
        {"rule": "consent", "passed": True, "detail": "marketing"},
    ],
    "message": {"template_id": "x", "locale": "en", "title": "-", "body": "-"},
    "zone": "Europe/Amsterdam (device)",
    "devices": 1,
}
FORM = {
    "template_source": "text",
    "title": "Hi {{ name }}",
    "body": "Trains run",
    "data": "name: Ana <b>",
    "category": "marketing",
    "locale": "en",
    "template_key": "console-broadcast",
    "target_kind": "segment_name",
    "segment_name": "commuters",
    "dedupe_key": "console-abc",
    "rate_per_minute": "1000",
    "ttl_hours": "2",
    "when": "now",
    "sample_user": "commuter-1",
}


def running(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(PROGRESS)
    data.update({"status": "running", "finished_at": None, "enqueued": 10, **changes})
    return data


def test_compose_form_for_a_marketer_with_the_named_segments(console: Console) -> None:
    console.admin.on(
        "GET", "/admin/v1/segments", {"segments": [{"segments": ["commuters", "past-buyers"]}]}
    )
    page = console.page("/console/broadcasts", role="marketer")
    assert 'id="compose"' in page and 'id="preview-broadcast"' in page
    assert '<option value="past-buyers">' in page
    assert 'name="dedupe_key" value="console-' in page


def test_a_viewer_sees_no_compose_form_only_the_lookup(console: Console) -> None:
    page = console.page("/console/broadcasts")
    assert 'id="compose"' not in page and 'data-testid="no-send"' in page
    assert 'id="lookup-id"' in page


def test_lookup_goes_to_the_broadcast_and_refuses_a_bad_id(console: Console) -> None:
    answer = console.request("GET", f"/console/broadcasts?id={BID}")
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"] == f"/console/broadcasts/{BID}"
    bad = console.request("GET", "/console/broadcasts?id=..%2Fsegments")
    assert bad["statusCode"] == 400 and "id: letters, digits" in bad["body"]


def test_preview_renders_for_the_sample_user_with_the_estimate(console: Console) -> None:
    console.admin.on("POST", "/admin/v1/campaigns/estimate", ESTIMATE)
    console.admin.on("POST", "/admin/v1/campaigns/preview", PREVIEW)
    answer = console.request("POST", "/console/broadcasts/preview", role="marketer", form=FORM)
    assert answer["statusCode"] == 200, answer["body"][:500]
    page = answer["body"]
    # rendered as the push sender renders it: the template with the broadcast's data, escaped
    assert 'data-testid="message-title"><strong>Hi Ana &lt;b&gt;</strong>' in page
    assert 'In the target: <span class="bad">no</span>' in page
    assert 'id="send-broadcast"' in page and "Send to about 150 users" in page
    assert "140 to 160" in page
    (estimate, preview) = [c for c in console.admin.calls if c[0] == "POST"]
    campaign = yaml.safe_load(estimate[2]["yaml"])
    assert campaign["audience"] == {"segment": "commuters"}
    assert campaign["category"] == "marketing"  # the consent rule is the broadcast's
    assert preview[2]["user_id"] == "commuter-1"
    assert [p for _, p, _ in console.admin.changes()] == [  # read-only routes: nothing sent
        "/admin/v1/campaigns/estimate",
        "/admin/v1/campaigns/preview",
    ]
    # the send form carries every field to the next step
    assert 'name="segment_name" value="commuters"' in page


def test_edit_brings_the_form_back_as_filled_in(console: Console) -> None:
    answer = console.request("POST", "/console/broadcasts/edit", role="marketer", form=FORM)
    assert answer["statusCode"] == 200
    assert 'id="title" name="title" value="Hi {{ name }}"' in answer["body"]
    assert 'name="dedupe_key" value="console-abc"' in answer["body"]
    assert console.request("POST", "/console/broadcasts/edit", form=FORM)["statusCode"] == 403


def test_preview_of_a_user_list_counts_it_without_an_estimate_call(console: Console) -> None:
    form = {**FORM, "target_kind": "user_ids", "user_ids": "u1, u2\nu3", "sample_user": ""}
    page = console.request("POST", "/console/broadcasts/preview", role="marketer", form=form)[
        "body"
    ]
    assert "Send to 3 users" in page
    assert console.admin.calls == []


def test_preview_shows_the_estimates_refusal(console: Console) -> None:
    refusal = {
        "message": "invalid config",
        "problems": [
            {
                "source": "campaign.yaml",
                "line": 7,
                "field": "audience.segment",
                "message": "no segment 'nope'",
            }
        ],
    }
    console.admin.on("POST", "/admin/v1/campaigns/estimate", refusal, 400)
    form = {**FORM, "segment_name": "nope", "sample_user": ""}
    page = console.request("POST", "/console/broadcasts/preview", role="marketer", form=form)[
        "body"
    ]
    assert "campaign.yaml:7: audience.segment: no segment &#39;nope&#39;" in page
    assert "Send to the target" in page


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"title": ""}, "template.text.en.title"),
        ({"data": ""}, "template: title: missing data"),
        ({"data": "[1, 2]"}, "data: write a YAML or JSON mapping"),
        ({"when": "later"}, "when: one of now, start_at, local"),
        ({"rate_per_minute": "lots"}, "rate_per_minute: a whole number"),
        ({"when": "local", "local_time": "9am", "local_date": "2026-12-07"}, "local_time"),
        ({"target_kind": "segment", "segment": "[unclosed"}, "segment: not valid YAML"),
        ({"target_kind": "attributes", "attributes": "no colon"}, "attributes: line 1"),
    ],
)
def test_bad_input_is_named_on_the_form_and_nothing_is_called(
    console: Console, changes: dict[str, str], problem: str
) -> None:
    for path in ("/console/broadcasts/preview", "/console/broadcasts/send"):
        answer = console.request("POST", path, role="marketer", form={**FORM, **changes})
        assert answer["statusCode"] == 400
        assert problem in answer["body"] and 'id="compose"' in answer["body"]
    assert console.admin.changes() == []


@pytest.mark.parametrize("role", ["viewer", "privacy"])
def test_preview_send_and_cancel_are_refused_for_roles_that_may_not(
    console: Console, role: str
) -> None:
    for path in (
        "/console/broadcasts/preview",
        "/console/broadcasts/send",
        f"/console/broadcasts/{BID}/cancel",
    ):
        answer = console.request("POST", path, role=role, form=FORM)
        assert answer["statusCode"] == 403, path
    assert (
        console.request("GET", f"/console/broadcasts/{BID}/cancel", role=role)["statusCode"] == 403
    )
    assert console.admin.changes() == []


def audit_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The console's audit lines (the fields Powertools puts on the JSON line)."""
    keys = ("actor", "action", "target", "status")
    return [
        {k: getattr(r, k) for k in keys}
        for r in caplog.records
        if r.name == "nudge-audit" and r.getMessage() == "console change"
    ]


def test_send_posts_the_broadcast_and_goes_to_its_progress(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    created = {"broadcast_id": "b123", "status": "running"}
    console.admin.on("POST", "/admin/v1/broadcasts", created, 202)
    form = {**FORM, "target_kind": "attributes", "attributes": "team: payments, 3\nbeta: true"}
    answer = console.request("POST", "/console/broadcasts/send", role="marketer", form=form)
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"] == "/console/broadcasts/b123?done=sent"
    ((method, path, body),) = console.admin.changes()
    assert (method, path) == ("POST", "/admin/v1/broadcasts")
    assert body["target"] == {"attributes": {"team": ["payments", 3], "beta": [True]}}
    assert body["template"]["text"] == {"en": {"title": "Hi {{ name }}", "body": "Trains run"}}
    assert body["data"] == {"name": "Ana <b>"}
    assert body["dedupe_key"] == "console-abc"
    assert (body["rate_per_minute"], body["ttl_seconds"]) == (1000, 7200)
    assert "sample_user" not in body
    (line,) = audit_lines(caplog)
    assert (line["action"], line["status"]) == ("broadcasts.send", 202)
    assert line["target"]["broadcast_id"] == "b123"
    assert line["actor"]["console_email"] == "ana@example.com"


def test_send_with_a_saved_template_and_a_fixed_start(console: Console) -> None:
    console.admin.on(
        "POST", "/admin/v1/broadcasts", {"broadcast_id": "b9", "status": "running"}, 202
    )
    form = {**FORM, "template_source": "stored", "template_id": "weekly", "when": "start_at",
            "start_at": "2026-12-07T09:00:00+00:00", "target_kind": "all_users"}  # fmt: skip
    assert (
        console.request("POST", "/console/broadcasts/send", role="marketer", form=form)[
            "statusCode"
        ]
        == 303
    )
    ((_, _, body),) = console.admin.changes()
    assert body["template_id"] == "weekly" and "template" not in body
    assert body["target"] == {"all_users": True}
    assert body["start_at"] == "2026-12-07T09:00:00+00:00"


def test_the_admin_apis_refusal_of_a_send_is_shown_on_the_form(console: Console) -> None:
    console.admin.on(
        "POST", "/admin/v1/broadcasts", {"message": "target.segment_name: no segment 'gone'"}, 404
    )
    answer = console.request("POST", "/console/broadcasts/send", role="marketer", form=FORM)
    assert answer["statusCode"] == 404
    assert "no segment &#39;gone&#39;" in answer["body"] and "nothing was sent" in answer["body"]


def test_progress_of_a_finished_broadcast(console: Console) -> None:
    console.admin.on("GET", f"/admin/v1/broadcasts/{BID}", PROGRESS)
    page = console.page(f"/console/broadcasts/{BID}?done=sent")
    assert 'data-testid="progress"' in page and 'data-testid="done"' in page
    assert 'http-equiv="refresh"' not in page and 'id="cancel-broadcast"' not in page
    assert '<div class="value" data-testid="sent">37</div>' in page
    assert '<div class="value" data-testid="percent">100 %</div>' in page
    assert "fatigue_cap" in page and 'data-testid="delivered">35<' in page


def test_a_running_broadcast_refreshes_and_a_marketer_may_cancel_it(console: Console) -> None:
    console.admin.on("GET", f"/admin/v1/broadcasts/{BID}", running())
    page = console.page(f"/console/broadcasts/{BID}", role="marketer")
    assert '<meta http-equiv="refresh" content="5">' in page
    assert 'id="cancel-broadcast"' in page
    assert 'data-testid="percent">27 %<' in page  # 10 of the 37 estimated
    assert 'id="cancel-broadcast"' not in console.page(f"/console/broadcasts/{BID}")


def test_cancel_confirms_then_deletes_and_audits(
    console: Console, caplog: pytest.LogCaptureFixture
) -> None:
    console.admin.on("GET", f"/admin/v1/broadcasts/{BID}", running())
    confirm = console.page(f"/console/broadcasts/{BID}/cancel", role="marketer")
    assert 'id="confirm-cancel"' in confirm and console.admin.changes() == []
    console.admin.on("DELETE", f"/admin/v1/broadcasts/{BID}", running(status="cancelled"))
    answer = console.request("POST", f"/console/broadcasts/{BID}/cancel", role="marketer")
    assert answer["statusCode"] == 303
    assert answer["headers"]["Location"] == f"/console/broadcasts/{BID}?done=cancelled"
    assert console.admin.changes() == [("DELETE", f"/admin/v1/broadcasts/{BID}", None)]
    (line,) = audit_lines(caplog)
    assert (line["action"], line["target"], line["status"]) == (
        "broadcasts.cancel",
        {"broadcast_id": BID},
        200,
    )


def test_a_refused_cancel_is_shown_on_the_confirmation(console: Console) -> None:
    console.admin.on("GET", f"/admin/v1/broadcasts/{BID}", running())
    console.admin.on(
        "DELETE", f"/admin/v1/broadcasts/{BID}", {"message": "broadcast_id: busy"}, 409
    )
    answer = console.request("POST", f"/console/broadcasts/{BID}/cancel", role="marketer")
    assert answer["statusCode"] == 409 and "broadcast_id: busy" in answer["body"]


def test_an_unknown_broadcast_is_a_not_found_page(console: Console) -> None:
    console.admin.on(
        "GET", "/admin/v1/broadcasts/nope", {"message": "broadcast_id: no broadcast 'nope'"}, 404
    )
    answer = console.request("GET", "/console/broadcasts/nope")
    assert answer["statusCode"] == 404 and "no broadcast" in answer["body"]
