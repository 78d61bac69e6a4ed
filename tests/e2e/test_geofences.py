"""Geofences end to end: `nudge geofences push` uploads to the bucket, config_loader publishes,
and the app's GET /v1/me/geofences near Amsterdam Centraal returns the station first."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from nudge_local.client import LocalClient
from tests.e2e.helpers import nudge

pytestmark = pytest.mark.e2e
STATIONS = Path(__file__).resolve().parents[2] / "events" / "geofences" / "stations.geojson"
CENTRAAL = "lat=52.3791&lng=4.9003"


def test_push_stations_then_the_app_gets_the_nearest_fences(
    tmp_path: Path, stack_dir: Path, client: LocalClient
) -> None:
    result = nudge(stack_dir, "geofences", "validate", str(STATIONS))
    assert result.returncode == 0, result.stderr
    assert "338 fences" in result.stdout

    result = nudge(stack_dir, "geofences", "push", str(STATIONS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "fence set 'stations' (338 fences) is live as version 1" in result.stdout
    result = nudge(stack_dir, "geofences", "list")
    (line,) = [row for row in result.stdout.splitlines() if row.startswith("stations")]
    assert line.split()[1:4] == ["active", "1", "338"]

    # without location consent the app is told to monitor nothing
    response = client.request("GET", f"/v1/me/geofences?{CENTRAAL}", user="geo-ann")
    assert response.status_code == 200, response.text
    assert response.json()["fences"] == [] and response.json()["location_consent"] is False
    granted = client.request(
        "PUT", "/v1/me/preferences", user="geo-ann", json_body={"categories": {"location": True}}
    )
    assert granted.status_code == 200, granted.text

    # the devices function checks the published sets at most every 30 (virtual) seconds
    fences: list[dict] = []
    for _ in range(10):
        response = client.request("GET", f"/v1/me/geofences?{CENTRAAL}", user="geo-ann")
        assert response.status_code == 200, response.text
        fences = response.json()["fences"]
        if fences:
            break
        client.advance("1m")
        time.sleep(0.2)
    assert fences[0]["id"] == "stations/nl-amsterdam-centraal"
    assert fences[0]["name"] == "Amsterdam Centraal" and fences[0]["distance_m"] == 0.0
    assert len(fences) == 20  # iOS, by default

    response = client.request(
        "GET", f"/v1/me/geofences?{CENTRAAL}&platform=ios&limit=21", user="geo-ann"
    )
    assert response.status_code == 400 and "limit" in response.json()["message"]
    response = client.request("GET", "/v1/me/geofences?lat=nan&lng=4.9", user="geo-ann")
    assert response.status_code == 400 and "lat" in response.json()["message"]

    # the CLI's lookup through the admin API
    result = nudge(
        stack_dir,
        "geofences",
        "near",
        "--lat",
        "52.3791",
        "--lng",
        "4.9003",
        "--limit",
        "3",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    near = json.loads(result.stdout)
    assert near["fences"][0]["id"] == "stations/nl-amsterdam-centraal"
    assert len(near["fences"]) == 3

    # a bad file is refused offline, naming file, feature and field
    bad = tmp_path / "stations.geojson"
    broken = json.loads(STATIONS.read_text())
    broken["features"][0]["geometry"]["type"] = "Circle"
    bad.write_text(json.dumps(broken))
    result = nudge(stack_dir, "geofences", "push", str(bad))
    assert result.returncode == 1
    assert f"{bad}: features.0.geometry.type: unsupported geometry type" in result.stderr
