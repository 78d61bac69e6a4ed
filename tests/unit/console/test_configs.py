"""The configs pages over the fake admin API: lists, upload (the id each kind is published
under, the admin API's located refusal), versions and restore, a campaign's preview and
estimate, and who may do which change."""

from __future__ import annotations

import copy
import html as htmllib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from nudge.console.session import csrf_token
from tests.unit.console.conftest import Console

DATA = json.loads((Path(__file__).parent / "data" / "configs_admin.json").read_text())
BOUNDARY = "----nudge-test-boundary"
CAMPAIGN_YAML = "id: spring-sale\nname: Spring sale\ntrigger: { event: app_open }\n"


def answers(console: Console, **overrides: Any) -> None:
    """The demo stack's answers (trimmed captures), optionally replaced per route."""
    bodies = copy.deepcopy(DATA) | overrides
    console.admin.on("GET", "/admin/v1/campaigns", bodies["campaigns"])
    console.admin.on("GET", "/admin/v1/campaigns/station-departures", bodies["campaign_detail"])
    console.admin.on("GET", "/admin/v1/segments", bodies["segments"])
    console.admin.on("GET", "/admin/v1/surveys", bodies["surveys"])
    console.admin.on("GET", "/admin/v1/surveys/nps-after-trip", bodies["survey_detail"])
    console.admin.on("GET", "/admin/v1/geofences", bodies["geofences"])


def upload(
    console: Console,
    kind: str,
    file_name: str = "",
    content: bytes = b"",
    text: str = "",
    name: str = "",
    role: str = "marketer",
) -> dict[str, Any]:
    """The upload form as a browser posts it (multipart, with the session's CSRF token)."""
    token = console.oidc.token_for(role)
    parts: list[tuple[str, str | None, bytes]] = [
        ("csrf", None, csrf_token(token).encode()),
        ("kind", None, kind.encode()),
    ]
    parts += [("text", None, text.encode()), ("name", None, name.encode())]
    parts.append(("file", file_name, content))
    chunks = []
    for field, filename, value in parts:
        disposition = f'form-data; name="{field}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        head = f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n"
        if filename is not None:
            head += "Content-Type: application/octet-stream\r\n"
        chunks.append(head.encode() + b"\r\n" + value + b"\r\n")
    body = b"".join(chunks) + f"--{BOUNDARY}--\r\n".encode()
    return console.request(
        "POST",
        "/console/configs/upload",
        role=role,
        body=body,
        headers={"content-type": f"multipart/form-data; boundary={BOUNDARY}"},
    )


def published(version: int, created: bool = True, config_id: str = "x") -> dict[str, Any]:
    return {
        "id": config_id,
        "version": version,
        "created": created,
        "current_version": version,
        "status": "active",
    }


def texts(html: str, testid: str) -> list[str]:
    """The visible text of each element with this data-testid (tags dropped, spaces joined)."""
    found = re.findall(rf'data-testid="{testid}"[^>]*>(.*?)</(?:li|tr|p|span|div|td)>', html, re.S)
    return [htmllib.unescape(" ".join(re.sub(r"<[^>]+>", " ", f).split())) for f in found]


# ---------- the list ----------


def test_the_list_shows_every_kind_with_status_version_and_load_errors(console: Console) -> None:
    campaigns = copy.deepcopy(DATA["campaigns"])
    campaigns["campaigns"][0]["errors"] = [
        {
            "source": "campaigns/onboarding.yaml",
            "line": 7,
            "field": "delivery.ttl",
            "message": "not a duration",
        }
    ]
    answers(console, campaigns=campaigns)
    html = console.page("/console/configs")
    rows = re.findall(r'data-testid="config-row" data-kind="(\w+)" data-id="([\w-]+)"', html)
    assert rows == [
        ("campaign", "onboarding"),
        ("campaign", "station-departures"),
        ("segments", "segments"),
        ("survey", "csat-ticket"),
        ("survey", "nps-after-trip"),
        ("fences", "stations"),
    ]
    assert 'href="/console/configs/fences/stations"' in html
    assert "campaigns/onboarding.yaml:7: delivery.ttl: not a duration" in html
    assert "commuters, past-buyers" in html  # the segment file's named segments
    assert "338 fences" in html
    # a viewer sees no upload form
    assert 'id="upload-form"' not in html and "needs the marketer role" in html


def test_a_marketer_gets_the_upload_form(console: Console) -> None:
    answers(console)
    html = console.page("/console/configs", role="marketer")
    form = html[html.index('id="upload-form"') :]
    for element in ('id="kind"', 'id="file"', 'id="text"', 'id="name"', 'id="upload"'):
        assert element in form
    assert 'enctype="multipart/form-data"' in form
    assert re.findall(r'<option value="(\w+)"', form) == [
        "campaign",
        "segments",
        "survey",
        "fences",
    ]


def test_empty_lists_say_what_to_do_and_a_refused_list_does_not_hide_the_others(
    console: Console,
) -> None:
    answers(console, campaigns={"campaigns": []}, surveys={"surveys": []})
    console.admin.on("GET", "/admin/v1/geofences", {"message": "fence sets unavailable"}, 503)
    html = console.page("/console/configs")
    assert "No campaigns yet. Upload one" in html
    assert "No surveys yet." in html
    assert "The admin API refused the list: fence sets unavailable" in html
    assert 'data-id="segments"' in html


# ---------- upload ----------


@pytest.mark.parametrize(
    ("kind", "file_name", "content", "path", "body"),
    [
        (
            "campaign",
            "whatever.yaml",
            CAMPAIGN_YAML,
            "/admin/v1/campaigns/spring-sale",  # the YAML's id, not the file's name
            {"yaml": CAMPAIGN_YAML},
        ),
        (
            "campaign",
            "autumn.yml",
            "name: no id here\n",
            "/admin/v1/campaigns/autumn",  # no id: the file name's stem
            {"yaml": "name: no id here\n"},
        ),
        (
            "survey",
            "s.yaml",
            "id: nps-q2\nname: Q2\n",
            "/admin/v1/surveys/nps-q2",
            {"yaml": "id: nps-q2\nname: Q2\n"},
        ),
        (
            "segments",
            "segments.yml",
            "segments: {}\n",
            "/admin/v1/segments/segments",
            {"yaml": "segments: {}\n"},
        ),
        (
            "fences",
            "stations.geojson",
            '{"type": "FeatureCollection", "features": []}',
            "/admin/v1/geofences/stations",
            {"format": "geojson", "content": '{"type": "FeatureCollection", "features": []}'},
        ),
        (
            "fences",
            "shops.csv",
            "id,lat,lng,radius_m\n",
            "/admin/v1/geofences/shops",
            {"format": "csv", "content": "id,lat,lng,radius_m\n"},
        ),
    ],
)
def test_an_upload_is_published_under_its_id_and_redirects_to_its_page(
    console: Console, kind: str, file_name: str, content: str, path: str, body: dict[str, str]
) -> None:
    console.admin.on("PUT", path, published(3))
    answer = upload(console, kind, file_name, content.encode())
    assert console.admin.changes() == [("PUT", path, body)]
    config_id = path.rsplit("/", 1)[1]
    assert answer["statusCode"] == 303
    assert (
        answer["headers"]["Location"]
        == f"/console/configs/{kind}/{config_id}?published=3&changed=1"
    )


def test_pasted_text_uses_the_yaml_id_or_the_name_field(console: Console) -> None:
    console.admin.on("PUT", "/admin/v1/campaigns/spring-sale", published(1))
    console.admin.on("PUT", "/admin/v1/segments/core", published(2))
    assert upload(console, "campaign", text=CAMPAIGN_YAML)["statusCode"] == 303
    assert upload(console, "segments", text="segments: {}\n", name="core")["statusCode"] == 303
    assert [p for _, p, _ in console.admin.changes()] == [
        "/admin/v1/campaigns/spring-sale",
        "/admin/v1/segments/core",
    ]


def test_the_published_page_names_the_version(console: Console) -> None:
    answers(console)
    html = console.page("/console/configs/campaign/station-departures?published=4&changed=1")
    assert "Published version 4" in html
    html = console.page("/console/configs/campaign/station-departures?published=1&changed=0")
    assert "Nothing changed: the upload is identical to version 1" in html


def test_a_refused_upload_lists_the_located_problems_and_publishes_nothing(
    console: Console,
) -> None:
    answers(console)
    refusal = copy.deepcopy(DATA["preview_invalid"])
    for problem in refusal["problems"]:
        problem["source"] = "campaigns/x.yaml"  # the admin API's object key
    console.admin.on("PUT", "/admin/v1/campaigns/x", refusal, 400)
    yaml_text = "id: x\nname: X\ntrigger:\n  kind: nonsense\n"
    answer = upload(console, "campaign", "my-campaign.yaml", yaml_text.encode())
    assert answer["statusCode"] == 400
    html = answer["body"]
    assert "Nothing was published" in html
    assert texts(html, "problem") == [
        "my-campaign.yaml:4: trigger.kind: Extra inputs are not permitted",
        "my-campaign.yaml:1: variants: Field required",
    ]
    assert 'data-testid="problems"' in html
    assert 'id="upload-form"' in html  # the form again, to fix and retry


@pytest.mark.parametrize(
    ("kind", "file_name", "content", "text", "name", "problem"),
    [
        ("campaign", "", b"", "", "", "file: choose a file or paste"),
        ("nonsense", "a.yaml", b"id: a\n", "", "", "kind: choose campaign"),
        ("segments", "", b"", "segments: {}\n", "", "name: give the segment file a name"),
        ("fences", "stations.kml", b"<kml/>", "", "", "stations.kml: a fence set is a .geojson"),
        (
            "segments",
            "Bad Name.yaml",
            b"segments: {}\n",
            "",
            "",
            "id: 'Bad Name' is not a valid id",
        ),
        ("campaign", "", b"", "id: [unclosed\n", "", "pasted text:2: not valid YAML"),
    ],
)
def test_an_upload_the_console_cannot_name_is_refused_with_the_field(
    console: Console, kind: str, file_name: str, content: bytes, text: str, name: str, problem: str
) -> None:
    answers(console)
    answer = upload(console, kind, file_name, content, text=text, name=name)
    assert answer["statusCode"] == 400
    assert problem in " ".join(texts(answer["body"], "problem"))
    assert console.admin.changes() == []


def test_broken_yaml_in_a_named_file_goes_to_the_admin_api_which_locates_it(
    console: Console,
) -> None:
    answers(console)
    console.admin.on("PUT", "/admin/v1/campaigns/broken", DATA["preview_invalid"], 400)
    upload(console, "campaign", "broken.yaml", b"id: [unclosed\n")
    assert console.admin.changes() == [
        ("PUT", "/admin/v1/campaigns/broken", {"yaml": "id: [unclosed\n"})
    ]


@pytest.mark.parametrize("role", ["viewer", "privacy"])
def test_only_a_marketer_may_upload(console: Console, role: str) -> None:
    answer = upload(console, "campaign", "a.yaml", CAMPAIGN_YAML.encode(), role=role)
    assert answer["statusCode"] == 403
    assert console.admin.calls == []


def test_an_upload_without_the_csrf_token_is_refused(console: Console) -> None:
    answer = console.request(
        "POST", "/console/configs/upload", role="marketer", form={"kind": "campaign"}, csrf=False
    )
    assert answer["statusCode"] == 403
    assert console.admin.calls == []


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
