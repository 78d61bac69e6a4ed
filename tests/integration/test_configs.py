"""Configs over moto: the DynamoDB store, config_loader with real-shaped S3 events, admin API."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from nudge import runtime
from nudge_local.s3_events import s3_event
from tests.integration.conftest import Aws
from tests.integration.test_handlers import api_event
from tests.unit.test_campaign_configs import SEGMENTS, campaign_yaml, with_segment

pytestmark = pytest.mark.integration


def bucket(aws: Aws) -> str:
    return str(aws.resolver.physical["ConfigsBucket"]["Ref"])


def upload(aws: Aws, key: str, text: str | bytes) -> dict[str, Any]:
    s3 = boto3.client("s3", region_name="us-east-1")
    body = text.encode() if isinstance(text, str) else text
    response = s3.put_object(Bucket=bucket(aws), Key=key, Body=body)
    event = s3_event("ObjectCreated:Put", bucket(aws), key, response.get("VersionId"), len(body))
    return aws.invoke("ConfigLoaderFunction", event)  # type: ignore[no-any-return]


def delete(aws: Aws, key: str) -> dict[str, Any]:
    s3 = boto3.client("s3", region_name="us-east-1")
    response = s3.delete_object(Bucket=bucket(aws), Key=key)
    event = s3_event(
        "ObjectRemoved:DeleteMarkerCreated", bucket(aws), key, response.get("VersionId"), 0
    )
    return aws.invoke("ConfigLoaderFunction", event)  # type: ignore[no-any-return]


def admin(
    aws: Aws,
    method: str,
    path: str,
    body: Any = None,
    route: str | None = None,
    params: dict[str, str] | None = None,
) -> tuple[int, Any]:
    raw = json.dumps(body) if body is not None else None
    response = aws.invoke(
        "AdminApiFunction", api_event(method, path, raw, route=route, params=params)
    )
    return response["statusCode"], json.loads(response["body"])


def test_s3_uploads_become_versions_and_bad_files_load_errors(aws: Aws) -> None:
    (result,) = upload(aws, "campaigns/welcome.yaml", campaign_yaml())["results"]
    assert (result["result"], result["version"]) == ("loaded", 1)
    (result,) = upload(aws, "campaigns/welcome.yaml", campaign_yaml(status="bogus"))["results"]
    assert result["result"] == "rejected"
    (problem,) = result["problems"]
    assert problem.startswith("campaigns/welcome.yaml:4: status: Input should be 'draft'")
    status, listed = admin(aws, "GET", "/admin/v1/campaigns")
    assert status == 200
    (row,) = listed["campaigns"]
    assert (row["id"], row["status"], row["version"]) == ("welcome", "active", 1)
    assert row["errors"][0]["line"] == 4 and row["errors"][0]["field"] == "status"
    # out of order: the event of an older version of the key is skipped
    s3 = boto3.client("s3", region_name="us-east-1")
    old = s3.put_object(Bucket=bucket(aws), Key="campaigns/welcome.yaml", Body=b"id: x")
    upload(aws, "campaigns/welcome.yaml", campaign_yaml(title="Two"))
    late = s3_event("ObjectCreated:Put", bucket(aws), "campaigns/welcome.yaml", old["VersionId"], 5)
    (result,) = aws.invoke("ConfigLoaderFunction", late)["results"]
    assert result["result"] == "superseded"
    head = runtime.config_store().head("campaign", "welcome")
    assert head is not None and head.version == 2
    # deleting the file archives the campaign
    (result,) = delete(aws, "campaigns/welcome.yaml")["results"]
    assert result["result"] == "archived"
    assert runtime.campaign_catalog().catalog("campaign", fresh=True).entries == {}


def test_keys_are_url_decoded(aws: Aws) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    body = campaign_yaml("spring-sale").encode()
    response = s3.put_object(Bucket=bucket(aws), Key="campaigns/spring-sale.yaml", Body=body)
    event = s3_event(
        "ObjectCreated:Put", bucket(aws), "campaigns/spring-sale.yaml", response["VersionId"], 1
    )
    event["Records"][0]["s3"]["object"]["key"] = "campaigns%2Fspring-sale.yaml"
    (result,) = aws.invoke("ConfigLoaderFunction", event)["results"]
    assert result["result"] == "loaded"


def test_dynamo_store_and_the_active_set(aws: Aws) -> None:
    upload(aws, "segments/core.yaml", SEGMENTS)
    upload(aws, "campaigns/commute.yaml", with_segment())
    upload(aws, "campaigns/welcome.yaml", campaign_yaml(status="paused"))
    published = runtime.campaign_catalog().current()
    assert list(published.active()) == ["commute"]
    assert published.campaigns["welcome"].status == "paused"
    assert set(published.segments) == {"commuters"}
    store = runtime.config_store()
    store.publish("campaign", "commute", "raw", {"id": "commute"}, "active", "t")
    assert [v.version for v in store.versions("campaign", "commute")] == [1, 2]
    assert store.get_version("campaign", "commute", 1).text == with_segment()  # type: ignore[union-attr]


def test_admin_api_publish_status_restore_and_estimate(aws: Aws) -> None:
    route = "PUT /admin/v1/campaigns/{campaign_id}"
    params = {"campaign_id": "welcome"}
    status, body = admin(
        aws, "PUT", "/admin/v1/campaigns/welcome", {"yaml": campaign_yaml()}, route, params
    )
    assert status == 200 and body["version"] == 1
    status, body = admin(
        aws,
        "PUT",
        "/admin/v1/campaigns/welcome",
        {"yaml": campaign_yaml(title="{{ nope }}")},
        route,
        params,
    )
    assert status == 400 and body["problems"][0]["field"] == "variants"
    status, body = admin(aws, "PUT", "/admin/v1/campaigns/welcome", {"yml": "x"}, route, params)
    assert status == 400 and "yaml" in body["message"]
    admin(
        aws,
        "PUT",
        "/admin/v1/campaigns/welcome",
        {"yaml": campaign_yaml(title="Two")},
        route,
        params,
    )
    status, body = admin(
        aws,
        "POST",
        "/admin/v1/campaigns/welcome/status",
        {"status": "paused"},
        "POST /admin/v1/campaigns/{campaign_id}/status",
        params,
    )
    assert status == 200 and body["status"] == "paused"
    status, body = admin(
        aws,
        "POST",
        "/admin/v1/campaigns/welcome/restore",
        {"version": 1},
        "POST /admin/v1/campaigns/{campaign_id}/restore",
        params,
    )
    assert status == 200 and body["version"] == 3
    status, body = admin(
        aws,
        "GET",
        "/admin/v1/campaigns/welcome",
        None,
        "GET /admin/v1/campaigns/{campaign_id}",
        params,
    )
    assert status == 200 and [v["version"] for v in body["versions"]] == [1, 2, 3]
    status, body = admin(
        aws,
        "GET",
        "/admin/v1/campaigns/nope",
        None,
        "GET /admin/v1/campaigns/{campaign_id}",
        {"campaign_id": "nope"},
    )
    assert status == 404
    status, body = admin(aws, "POST", "/admin/v1/campaigns/estimate", {"yaml": campaign_yaml()})
    assert status == 200 and body["complete"] and body["scanned"] == 0
    status, body = admin(
        aws,
        "PUT",
        "/admin/v1/segments/core",
        {"yaml": SEGMENTS},
        "PUT /admin/v1/segments/{name}",
        {"name": "core"},
    )
    assert status == 200 and body["version"] == 1


def test_admin_preview_explains_the_decision_for_one_user(aws: Aws) -> None:
    from tests.integration.test_handlers import good_event, post_events

    post_events(aws, [good_event(1, aws)], user="ann")
    from tests.integration.test_handlers import deliver

    deliver(aws)
    status, body = admin(
        aws, "POST", "/admin/v1/campaigns/preview", {"yaml": campaign_yaml(), "user_id": "ann"}
    )
    assert status == 200, body
    assert body["campaign"] == "welcome" and body["user_id"] == "ann"
    assert body["rules"] and "verdict" in body
    status, body = admin(
        aws, "POST", "/admin/v1/campaigns/preview", {"yaml": campaign_yaml(), "user_id": "nobody"}
    )
    assert status == 404 and "user_id" in body["message"]
