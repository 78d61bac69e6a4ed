"""Fence sets over moto: S3 upload -> config_loader -> FenceCatalog, the admin API, and
GET /v1/me/geofences through the devices_api handler."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from nudge import runtime
from tests.integration.conftest import EVENTS_DIR, Aws
from tests.integration.test_configs import admin, bucket, delete, upload
from tests.integration.test_handlers import api_event

pytestmark = pytest.mark.integration

STATIONS = (EVENTS_DIR / "geofences" / "stations.geojson").read_text()
CENTRAAL = (52.3791, 4.9003)  # Amsterdam Centraal, in front of the station


def geofences(aws: Aws, user: str = "ann", **query: Any) -> tuple[int, dict[str, Any]]:
    event = api_event("GET", "/v1/me/geofences", user=user, query=urlencode(query))
    response = aws.invoke("DevicesApiFunction", event)
    return response["statusCode"], json.loads(response["body"])


def grant_location(aws: Aws, user: str = "ann", granted: bool = True) -> None:
    body = json.dumps({"categories": {"location": granted}})
    response = aws.invoke("DevicesApiFunction", api_event("PUT", "/v1/me/preferences", body, user))
    assert response["statusCode"] == 200, response


def test_uploaded_geojson_is_loaded_indexed_and_found(aws: Aws) -> None:
    (result,) = upload(aws, "geofences/stations.geojson", STATIONS)["results"]
    assert (result["result"], result["version"]) == ("loaded", 1), result
    head = runtime.config_store().head("geofences", "stations")
    assert head is not None and head.model["fences"] == 338
    s3 = boto3.client("s3", region_name="us-east-1")
    listed = s3.list_objects_v2(Bucket=bucket(aws), Prefix="published/geofences/stations/")
    assert [o["Key"] for o in listed["Contents"]] == [head.model["object"]]

    index = runtime.fence_catalog().current_index()
    assert index is not None and len(index) == 338
    assert index.containing(*CENTRAAL)[0].key == "stations/nl-amsterdam-centraal"

    # the same file again: no new version, nothing rewritten
    (result,) = upload(aws, "geofences/stations.geojson", STATIONS)["results"]
    assert (result["result"], result["version"]) == ("unchanged", 1)
    status, body = admin(aws, "GET", "/admin/v1/geofences")
    assert status == 200
    (row,) = body["sets"]
    assert (row["id"], row["status"], row["version"], row["fences"]) == (
        "stations",
        "active",
        1,
        338,
    )
    assert "train_station" in row["tags"] and row["errors"] == []

    # deleting the file archives the set; the catalog drops it at its next check
    (result,) = delete(aws, "geofences/stations.geojson")["results"]
    assert result["result"] == "archived"
    aws.clock.advance(timedelta(seconds=31))
    assert runtime.fence_catalog().current_index() is None


def test_bad_geojson_gives_located_errors_and_keeps_the_previous_version(aws: Aws) -> None:
    upload(aws, "geofences/stations.geojson", STATIONS)
    broken = json.loads(STATIONS)
    broken["features"][1]["geometry"]["coordinates"] = [4.873, 95.0]
    del broken["features"][2]["properties"]["radius_m"]
    (result,) = upload(aws, "geofences/stations.geojson", json.dumps(broken))["results"]
    assert result["result"] == "rejected"
    assert any("features.1.geometry.coordinates.1" in p for p in result["problems"]), result
    assert any("features.2.properties.radius_m" in p for p in result["problems"]), result
    (result,) = upload(aws, "geofences/cafes.geojson", "{not json")["results"]
    assert result["result"] == "rejected"
    assert result["problems"][0].startswith("geofences/cafes.geojson:1: not valid JSON")

    _, body = admin(aws, "GET", "/admin/v1/geofences")
    rows = {row["id"]: row for row in body["sets"]}
    assert (rows["stations"]["status"], rows["stations"]["version"]) == ("active", 1)
    fields = [e["field"] for e in rows["stations"]["errors"]]
    assert "features.1.geometry.coordinates.1" in fields
    assert rows["cafes"]["status"] == "not loaded" and rows["cafes"]["errors"][0]["line"] == 1
    index = runtime.fence_catalog().current_index()
    assert index is not None and len(index) == 338  # still version 1


def test_csv_upload_and_the_admin_api(aws: Aws) -> None:
    csv = "id,name,lat,lng,radius_m,tags\nhema-dam,HEMA Dam,52.3729,4.8932,50,shop\n"
    (result,) = upload(aws, "geofences/shops.csv", csv)["results"]
    assert result["result"] == "loaded"
    put = "PUT /admin/v1/geofences/{set_id}"
    status, body = admin(
        aws,
        "PUT",
        "/admin/v1/geofences/stations",
        {"format": "geojson", "content": STATIONS},
        route=put,
        params={"set_id": "stations"},
    )
    assert status == 200 and (body["version"], body["created"], body["fences"]) == (1, True, 338)
    status, body = admin(
        aws,
        "PUT",
        "/admin/v1/geofences/stations",
        {"format": "geojson", "content": "{}"},
        route=put,
        params={"set_id": "stations"},
    )
    assert status == 400 and body["problems"][0]["field"] == "type"
    status, body = admin(
        aws,
        "PUT",
        "/admin/v1/geofences/stations",
        {"format": "kml", "content": "x"},
        route=put,
        params={"set_id": "stations"},
    )
    assert status == 400 and "format" in body["message"]

    event = api_event(
        "GET", "/admin/v1/geofences/near", query=urlencode({"lat": 52.3729, "lng": 4.8932})
    )
    response = aws.invoke("AdminApiFunction", event)
    assert response["statusCode"] == 200, response
    nearest = json.loads(response["body"])["fences"]
    assert nearest[0]["id"] == "shops/hema-dam" and len(nearest) == 20
    assert nearest[1]["id"] == "stations/nl-amsterdam-centraal"

    status, body = admin(
        aws,
        "POST",
        "/admin/v1/geofences/shops/status",
        {"status": "archived"},
        route="POST /admin/v1/geofences/{set_id}/status",
        params={"set_id": "shops"},
    )
    assert status == 200 and body["status"] == "archived"
    status, _ = admin(
        aws,
        "POST",
        "/admin/v1/geofences/nope/status",
        {"status": "archived"},
        route="POST /admin/v1/geofences/{set_id}/status",
        params={"set_id": "nope"},
    )
    assert status == 404
    aws.clock.advance(timedelta(seconds=30))
    index = runtime.fence_catalog().current_index()
    assert index is not None and index.get("shops/hema-dam") is None


def test_mobile_geofences_empty_until_published_and_only_with_consent(aws: Aws) -> None:
    lat, lng = CENTRAAL
    status, body = geofences(aws, lat=lat, lng=lng)
    assert status == 200
    assert body == {"fences": [], "refresh_radius_m": 25000.0, "location_consent": False}
    grant_location(aws)
    status, body = geofences(aws, lat=lat, lng=lng)
    assert status == 200 and body["fences"] == [] and body["location_consent"] is True

    upload(aws, "geofences/stations.geojson", STATIONS)
    aws.clock.advance(timedelta(seconds=30))
    status, body = geofences(aws, lat=lat, lng=lng)
    assert status == 200 and len(body["fences"]) == 20  # the iOS default
    first = body["fences"][0]
    assert first["id"] == "stations/nl-amsterdam-centraal" and first["distance_m"] == 0.0
    assert first["circumscribed"] is True and "train_station" in first["tags"]
    assert 250 <= body["refresh_radius_m"] <= 25_000
    status, body = geofences(aws, lat=lat, lng=lng, platform="android", limit=100)
    assert status == 200 and 20 < len(body["fences"]) <= 100  # those within 25 km
    assert body["refresh_radius_m"] == 25_000
    status, body = geofences(aws, lat=lat, lng=lng, platform="ios", limit=5)
    assert [f["id"] for f in body["fences"]][:1] == ["stations/nl-amsterdam-centraal"]
    assert len(body["fences"]) == 5

    # bob never granted location: nothing to monitor, whatever is published
    status, body = geofences(aws, user="bob", lat=lat, lng=lng)
    assert status == 200 and body["fences"] == [] and body["location_consent"] is False
    grant_location(aws, granted=False)
    assert geofences(aws, lat=lat, lng=lng)[1]["fences"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"lat": 52.37, "lng": 4.9, "limit": 21}, "limit"),  # ios: 20 at most
        ({"lat": 52.37, "lng": 4.9, "limit": 101, "platform": "android"}, "limit"),
        ({"lat": 52.37, "lng": 4.9, "limit": 0}, "limit"),
        ({"lat": 52.37, "lng": 4.9, "limit": "many"}, "limit"),
        ({"lat": "nan", "lng": 4.9}, "lat"),
        ({"lat": 52.37, "lng": "inf"}, "lng"),
        ({"lat": 91, "lng": 4.9}, "lat"),
        ({"lat": 52.37, "lng": -180.5}, "lng"),
        ({"lat": "north", "lng": 4.9}, "lat"),
        ({"lng": 4.9}, "lat"),
        ({"lat": 52.37, "lng": 4.9, "platform": "web"}, "platform"),
    ],
)
def test_mobile_geofences_bad_input_is_400_naming_the_field(
    aws: Aws, query: dict[str, Any], field: str
) -> None:
    status, body = geofences(aws, **query)
    assert status == 400, body
    assert field in body["message"], body


def test_mobile_geofences_needs_a_subject(aws: Aws) -> None:
    event = api_event("GET", "/v1/me/geofences", user=None, query="lat=52&lng=4")
    assert aws.invoke("DevicesApiFunction", event)["statusCode"] == 401
