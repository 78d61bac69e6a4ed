"""One config's page over the fake admin API: its versions and restore, and a campaign's
preview and audience estimate, with who may do which (the lists and upload: test_configs)."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from tests.unit.console.conftest import Console
from tests.unit.console.test_configs import DATA, answers, published, texts

# ---------- one config: versions, restore ----------


def with_versions() -> dict[str, Any]:
    detail = copy.deepcopy(DATA["campaign_detail"])
    detail["version"] = 2
    detail["versions"].append(
        {
            "version": 2,
            "sha256": "ab" * 32,
            "status": "active",
            "source": "admin-api",
            "created_at": 1772500000,
        }
    )
    return detail


def test_a_campaign_page_shows_every_version_the_yaml_and_restore_for_earlier_ones(
    console: Console,
) -> None:
    answers(console, campaign_detail=with_versions())
    html = console.page("/console/configs/campaign/station-departures", role="marketer")
    assert re.findall(r'data-testid="version-row" data-version="(\d+)"', html) == ["2", "1"]
    assert "2026-03-03 01:06 UTC" in html and "2026-03-02 00:00 UTC" in html
    assert "admin-api" in html and "88af8b83c4ca" in html
    assert re.findall(r'id="restore-(\d+)"', html) == ["1"]  # not the current version
    assert 'data-testid="current-yaml"' in html and "holdout_pct: 30" in html
    assert 'id="preview-user"' in html and 'id="estimate"' in html
    viewer = console.page("/console/configs/campaign/station-departures")
    assert 'id="restore-1"' not in viewer and 'id="preview-user"' not in viewer


def test_survey_segments_and_fence_pages_show_what_the_api_gives(console: Console) -> None:
    answers(console)
    survey = console.page("/console/configs/survey/nps-after-trip", role="marketer")
    assert re.findall(r'data-testid="version-row" data-version="(\d+)"', survey) == ["1"]
    assert "surveys/nps-after-trip.yaml" in survey and "sample_pct: 75" in survey
    assert "no restore for surveys" in survey and 'data-testid="restore"' not in survey
    segments = console.page("/console/configs/segments/segments")
    assert "commuters, past-buyers" in segments and "no version history" in segments
    fences = console.page("/console/configs/fences/stations")
    assert "338" in fences and "train_station" in fences
    missing = console.request("GET", "/console/configs/fences/nowhere")
    assert missing["statusCode"] == 404
    assert console.request("GET", "/console/configs/widgets/x")["statusCode"] == 404


def test_restore_asks_first_then_restores_the_version_and_names_the_new_one(
    console: Console,
) -> None:
    answers(console, campaign_detail=with_versions())
    page = console.page(
        "/console/configs/campaign/station-departures/restore?version=1", "marketer"
    )
    assert "Restore version 1 of station-departures?" in page
    assert 'name="version" value="1"' in page and 'id="confirm-restore"' in page
    assert console.admin.changes() == []  # the confirmation page changes nothing
    console.admin.on("POST", "/admin/v1/campaigns/station-departures/restore", published(3))
    answer = console.request(
        "POST",
        "/console/configs/campaign/station-departures/restore",
        role="marketer",
        form={"version": "1"},
    )
    assert console.admin.changes() == [
        ("POST", "/admin/v1/campaigns/station-departures/restore", {"version": 1})
    ]
    assert answer["statusCode"] == 303
    location = answer["headers"]["Location"]
    assert location == "/console/configs/campaign/station-departures?restored=3&from=1"
    assert "Restored version 1 as version 3" in console.page(location)


def test_a_refused_restore_is_shown_on_the_confirmation_page(console: Console) -> None:
    answers(console, campaign_detail=with_versions())
    refusal = {
        "statusCode": 400,
        "message": "invalid config: campaigns/station-departures.yaml: segment_name: no segment",
        "problems": [
            {"source": "x", "line": None, "field": "segment_name", "message": "no segment 'a'"}
        ],
    }
    console.admin.on("POST", "/admin/v1/campaigns/station-departures/restore", refusal, 400)
    answer = console.request(
        "POST",
        "/console/configs/campaign/station-departures/restore",
        role="marketer",
        form={"version": "1"},
    )
    assert answer["statusCode"] == 400
    assert "refused the restore; nothing changed" in answer["body"]
    assert "segment_name: no segment &#39;a&#39;" in answer["body"]


@pytest.mark.parametrize("role", ["viewer", "privacy"])
def test_only_a_marketer_may_restore(console: Console, role: str) -> None:
    answers(console, campaign_detail=with_versions())
    path = "/console/configs/campaign/station-departures/restore"
    assert console.request("GET", path + "?version=1", role=role)["statusCode"] == 403
    answer = console.request("POST", path, role=role, form={"version": "1"})
    assert answer["statusCode"] == 403
    assert console.admin.changes() == []


def test_restore_of_a_kind_without_restore_or_a_bad_version_is_refused(console: Console) -> None:
    answers(console)
    survey = "/console/configs/survey/nps-after-trip/restore"
    answer = console.request("POST", survey, role="marketer", form={"version": "1"})
    assert answer["statusCode"] == 404
    campaign = "/console/configs/campaign/station-departures/restore"
    answer = console.request("POST", campaign, role="marketer", form={"version": "latest"})
    assert answer["statusCode"] == 400 and "version:" in answer["body"]
    assert console.admin.changes() == []


# ---------- preview and estimate ----------


def test_preview_sends_the_current_yaml_and_shows_each_rule_and_the_message(
    console: Console,
) -> None:
    answers(console)
    ok = copy.deepcopy(DATA["preview_ok"])
    console.admin.on("POST", "/admin/v1/campaigns/preview", ok)
    path = "/console/configs/campaign/station-departures/preview"
    answer = console.request("POST", path, role="marketer", form={"user_id": "commuter-0535812b"})
    assert answer["statusCode"] == 200
    assert console.admin.changes() == [
        (
            "POST",
            "/admin/v1/campaigns/preview",
            {"yaml": DATA["campaign_detail"]["text"], "user_id": "commuter-0535812b"},
        )
    ]
    html = answer["body"]
    rules = re.findall(r'data-testid="rule" data-rule="(\w+)" data-passed="(\w+)"', html)
    assert rules[0] == ("active", "true") and rules[-1] == ("send_window", "false")
    assert len(rules) == 7
    assert "the window opens after the message is stale" in html
    assert "suppress:send_window" in html
    assert "'station' is undefined" in texts(html, "rendered-message")[0]
    # a message that renders
    ok["message"] = {
        "template_id": "t",
        "locale": "nl",
        "title": "Utrecht: je treinen",
        "body": "Live",
    }
    answer = console.request("POST", path, role="marketer", form={"user_id": "commuter-0535812b"})
    assert "Utrecht: je treinen" in answer["body"] and "locale nl" in answer["body"]


def test_a_refused_preview_is_shown_with_its_problems(console: Console) -> None:
    answers(console)
    console.admin.on("POST", "/admin/v1/campaigns/preview", DATA["preview_invalid"], 400)
    path = "/console/configs/campaign/station-departures/preview"
    answer = console.request("POST", path, role="marketer", form={"user_id": "u1"})
    assert answer["statusCode"] == 400
    assert (
        "station-departures.yaml:4: trigger.kind: Extra inputs are not permitted" in answer["body"]
    )
    console.admin.on(
        "POST", "/admin/v1/campaigns/preview", {"message": "user_id: no profile for 'u2'"}, 404
    )
    answer = console.request("POST", path, role="marketer", form={"user_id": "u2"})
    assert answer["statusCode"] == 400 and "no profile for &#39;u2&#39;" in answer["body"]
    empty = console.request("POST", path, role="marketer", form={"user_id": " "})
    assert empty["statusCode"] == 400 and "user_id: enter a user id" in empty["body"]
    assert len(console.admin.changes()) == 2  # the empty user id never reached the API


def test_estimate_shows_the_audience_with_its_interval_and_sample(console: Console) -> None:
    answers(console)
    sampled = copy.deepcopy(DATA["estimate_ok"]) | {
        "estimate": 1200,
        "interval_95": [1010, 1390],
        "sampled_segments": 2,
        "complete": False,
    }
    console.admin.on("POST", "/admin/v1/campaigns/estimate", sampled)
    path = "/console/configs/campaign/station-departures/estimate"
    answer = console.request("POST", path, role="marketer")
    assert console.admin.changes() == [
        ("POST", "/admin/v1/campaigns/estimate", {"yaml": DATA["campaign_detail"]["text"]})
    ]
    html = answer["body"]
    assert texts(html, "estimate-value") == ["1,200"]
    assert texts(html, "estimate-interval") == ["1,010 \u2013 1,390"]
    assert "sampled 2 of 4 scan segments" in html
    assert "loyal" in html and 'data-sort="61"' in html


@pytest.mark.parametrize("role", ["viewer", "privacy"])
def test_only_a_marketer_may_preview_or_estimate(console: Console, role: str) -> None:
    answers(console)
    base = "/console/configs/campaign/station-departures"
    assert (
        console.request("POST", f"{base}/preview", role=role, form={"user_id": "u"})["statusCode"]
        == 403
    )
    assert console.request("POST", f"{base}/estimate", role=role)["statusCode"] == 403
    assert console.admin.calls == []
