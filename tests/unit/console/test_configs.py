"""The configs list over the fake admin API: every kind, upload (the id each kind is published
under, the admin API's located refusal) and who may upload (one config's page:
test_config_detail)."""

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
