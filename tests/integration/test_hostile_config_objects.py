"""Hostile config files over moto (issue 20): uploaded to the configs bucket, config_loader
records a located problem on the key and the previous version stays live, fast, without
raising (a raise would be retried, then dead-lettered); the admin API answers 400 naming the
problem. An oversized object is refused by its size without its body being read.

Time is this process's CPU time: the bombs burn CPU, and other work on a shared machine then
cannot make the tests flaky."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import botocore.response
import pytest

from nudge import runtime
from nudge.configfiles import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH
from nudge.models.configs import ConfigKind
from tests.integration.conftest import Aws
from tests.integration.test_configs import admin, upload
from tests.unit.test_campaign_configs import SEGMENTS, campaign_yaml
from tests.unit.test_hostile_configs import BILLION_LAUGHS, DEEP_FLOW

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[2] / "events"
SURVEY = (
    (EVENTS / "surveys/nps-after-trip.yaml")
    .read_text()
    .replace("  segment_name: past-buyers", "  segment_name: commuters")
)
SHOPS = "id,name,lat,lng,radius_m\nshop-1,Shop,52.37,4.90,100\n"
TOO_DEEP = f"nested more than {MAX_CONFIG_DEPTH} levels deep"
ALIASES = "anchors and aliases"

# (object key, a good file, its kind and id in the store)
KINDS: dict[str, tuple[str, str | None, ConfigKind, str]] = {
    "campaign": ("campaigns/welcome.yaml", campaign_yaml(), "campaign", "welcome"),
    "segments": ("segments/core.yaml", SEGMENTS, "segments", "core"),
    "survey": ("surveys/nps-after-trip.yaml", SURVEY, "survey", "nps-after-trip"),
    "fences": ("geofences/shops.geojson", None, "geofences", "shops"),
}


def upload_timed(aws: Aws, key: str, body: str | bytes) -> dict[str, Any]:
    started = time.process_time()
    response = upload(aws, key, body)
    assert time.process_time() - started < 1.0
    (result,) = response["results"]
    return dict(result)


def live_version(kind: ConfigKind, config_id: str) -> int | None:
    head = runtime.config_store().head(kind, config_id)
    return head.version if head is not None else None


@pytest.mark.parametrize("name", list(KINDS))
def test_a_hostile_object_is_recorded_and_the_previous_version_stays_live(
    aws: Aws, name: str
) -> None:
    key, good, kind, config_id = KINDS[name]
    if name != "segments":
        upload(aws, "segments/core.yaml", SEGMENTS)  # the survey's named segment
    if name == "fences":
        good_key, good = "geofences/shops.csv", SHOPS  # the set's other file holds it live
        hostile: list[tuple[str, int, str]] = [("[" * 100_000, 1, TOO_DEEP)]
    else:
        good_key = key
        hostile = [(BILLION_LAUGHS, 2, ALIASES), (DEEP_FLOW, 1, TOO_DEEP)]
    (loaded,) = upload(aws, good_key, good or "")["results"]
    assert loaded["result"] == "loaded", loaded
    assert live_version(kind, config_id) == 1
    for text, line, words in hostile:
        result = upload_timed(aws, key, text)
        assert result["result"] == "rejected", result
        (problem,) = result["problems"]
        assert problem.startswith(f"{key}:{line}: {words}")
        (error,) = [e for k, e in runtime.config_store().errors().items() if k == key]
        assert (error.problems[0]["line"], error.problems[0]["source"]) == (line, key)
        assert live_version(kind, config_id) == 1


def test_an_oversized_object_is_refused_by_its_size_without_reading_its_body(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(aws, "campaigns/welcome.yaml", campaign_yaml())
    read: list[int] = []
    real_read = botocore.response.StreamingBody.read

    def counting_read(self: Any, amt: int | None = None) -> bytes:
        data: bytes = real_read(self, amt)
        read.append(len(data))
        return data

    monkeypatch.setattr(botocore.response.StreamingBody, "read", counting_read)
    big = campaign_yaml() + "# " + "x" * MAX_CONFIG_BYTES + "\n"
    result = upload_timed(aws, "campaigns/welcome.yaml", big)
    assert result["result"] == "rejected"
    assert result["problems"] == ["campaigns/welcome.yaml: file is larger than 512 KB"]
    assert sum(read) == 0, "the body of an object refused by its size was read"
    assert live_version("campaign", "welcome") == 1
    status, listed = admin(aws, "GET", "/admin/v1/campaigns")
    assert status == 200
    (row,) = listed["campaigns"]
    assert (row["version"], row["errors"][0]["message"]) == (1, "file is larger than 512 KB")
    # a good file read afterwards is read only up to the cap (and loads)
    read.clear()
    assert upload_timed(aws, "campaigns/welcome.yaml", campaign_yaml(title="Two"))["result"] == (
        "loaded"
    )
    assert 0 < sum(read) <= MAX_CONFIG_BYTES + 1


@pytest.mark.parametrize(
    ("route", "path", "params", "body", "line", "words"),
    [
        (
            "PUT /admin/v1/campaigns/{campaign_id}",
            "/admin/v1/campaigns/welcome",
            {"campaign_id": "welcome"},
            {"yaml": BILLION_LAUGHS},
            2,
            ALIASES,
        ),
        (
            "PUT /admin/v1/segments/{name}",
            "/admin/v1/segments/core",
            {"name": "core"},
            {"yaml": DEEP_FLOW},
            1,
            TOO_DEEP,
        ),
        (
            "PUT /admin/v1/surveys/{survey_id}",
            "/admin/v1/surveys/nps-after-trip",
            {"survey_id": "nps-after-trip"},
            {"yaml": BILLION_LAUGHS},
            2,
            ALIASES,
        ),
        (
            "PUT /admin/v1/geofences/{set_id}",
            "/admin/v1/geofences/shops",
            {"set_id": "shops"},
            {"format": "geojson", "content": "[" * 100_000},
            1,
            TOO_DEEP,
        ),
    ],
    ids=["campaign", "segments", "survey", "fences"],
)
def test_the_admin_api_answers_400_naming_the_problem(
    aws: Aws, route: str, path: str, params: dict[str, str], body: Any, line: int, words: str
) -> None:
    assert admin(aws, "GET", "/admin/v1/campaigns")[0] == 200  # a cold start is not timed
    started = time.process_time()
    status, answer = admin(aws, "PUT", path, body, route=route, params=params)
    assert time.process_time() - started < 1.0
    assert status == 400, answer
    (problem,) = answer["problems"]
    assert problem["line"] == line and problem["message"].startswith(words)
