"""Issue 24's road from Pinpoint, end to end through the local stack, as a team would walk it
(docs/migrate-from-pinpoint.md): a Pinpoint endpoint export imported with the CLI, the app's
PutEvents kept as they were, a Pinpoint campaign converted, activated and pushed, and its
event sending to a device the import brought in."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from nudge_local.client import LocalClient
from tests.e2e.helpers import inbox, nudge

pytestmark = pytest.mark.e2e

# spread over the globe: at any instant one of them is in the day, outside quiet hours
ZONES = (
    "UTC", "Europe/Helsinki", "Asia/Dubai", "Asia/Kolkata", "Asia/Bangkok", "Asia/Tokyo",
    "Australia/Sydney", "Pacific/Auckland", "America/Sao_Paulo", "America/New_York",
    "America/Chicago", "America/Denver", "America/Los_Angeles", "Pacific/Honolulu",
)  # fmt: skip


def daytime_zone(now: datetime) -> str:
    return next(z for z in ZONES if 10 <= now.astimezone(ZoneInfo(z)).hour < 20)


def endpoint(
    endpoint_id: str, user_id: str, channel: str, address: str, plan: str, zone: str, **extra: Any
) -> dict[str, Any]:
    """One line of a Pinpoint export (an EndpointResponse), with the keys exports carry."""
    return {
        "Id": endpoint_id,
        "ApplicationId": "pp-project-1",
        "ChannelType": channel,
        "Address": address,
        "EndpointStatus": "ACTIVE",
        "OptOut": "NONE",
        "CohortId": "42",
        "CreationDate": "2025-06-01T10:00:00.000Z",
        "EffectiveDate": "2026-01-15T10:00:00.000Z",
        "Demographic": {"Platform": "android", "Locale": "en_GB", "Timezone": zone},
        "Location": {"Country": "GB"},
        "Attributes": {"plan": [plan]},
        "User": {"UserId": user_id, "UserAttributes": {"first_name": [user_id.split("-")[0]]}},
        **extra,
    }


def put_events(
    client: LocalClient, user: str, endpoint_id: str, point: dict[str, Any], *events: str
) -> dict[str, Any]:
    """PutEvents as the app sends it (its sign-in's JWT), one endpoint; the endpoint's answer."""
    now = client.now()
    body = {
        "BatchItem": {
            endpoint_id: {
                "Endpoint": point,
                "Events": {
                    uuid.uuid4().hex: {"EventType": name, "Timestamp": now, "Attributes": {}}
                    for name in events
                },
            }
        }
    }
    path = "/v1/apps/pp-project-1/events"
    response = client.request("POST", path, user=user, json_body=body)
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()["EventsResponse"]["Results"][endpoint_id]
    assert {e["StatusCode"] for e in result["EventsItemResponse"].values()} == {202}, result
    return result


def test_pinpoint_export_putevents_and_a_converted_campaign_reach_an_imported_device(
    tmp_path: Path, stack_dir: Path, client: LocalClient
) -> None:
    run = uuid.uuid4().hex[:8]
    zone = daytime_zone(datetime.fromisoformat(client.now()).astimezone(UTC))
    users = {name: f"{name}-{run}" for name in ("ann", "bob", "cy", "dee")}
    token = {name: f"fcm-{name}-{uuid.uuid4().hex}" for name in ("ann", "bob", "dee")}
    eid = {name: f"ep-{name}-{run}" for name in users}

    # 1. the export: gzip parts of EndpointResponse lines, one of them broken
    rows = [
        endpoint(eid["ann"], users["ann"], "GCM", token["ann"], "gold", zone),
        endpoint(eid["bob"], users["bob"], "GCM", token["bob"], "gold", zone, OptOut="ALL"),
        endpoint(eid["cy"], users["cy"], "APNS", "a1b2" * 16, "gold", zone),
        endpoint(eid["dee"], users["dee"], "GCM", token["dee"], "silver", zone),
    ]
    export = tmp_path / "export"
    export.mkdir()
    lines = [json.dumps(row) for row in rows]
    (export / "part-00000.gz").write_bytes(gzip.compress("\n".join(lines[:2]).encode()))
    broken = [*lines[2:], '{"Id": "ep-broken", "Metrics": {"score": "high"}}']
    (export / "part-00001.gz").write_bytes(gzip.compress("\n".join(broken).encode()))

    imported = nudge(
        stack_dir, "import", "pinpoint-endpoints", str(export), "--json", "--no-progress"
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    summary = json.loads(imported.stdout)
    counts = {k: summary[k] for k in ("endpoints", "users", "devices", "needs_reregistration")}
    assert counts == {"endpoints": 4, "users": 4, "devices": 3, "needs_reregistration": 1}
    assert summary["opted_out"] == 1
    ((rejected),) = summary["rejected"]
    assert (rejected["file"].endswith("part-00001.gz"), rejected["line"]) == (True, 3)
    assert "Metrics.score" in rejected["error"]

    # 2. the apps keep their PutEvents: an Android install, and an iPhone still on APNs
    gcm = {k: rows[0][k] for k in ("ChannelType", "Address", "Demographic")}
    answer = put_events(client, users["ann"], eid["ann"], gcm, "_session.start")
    assert answer["EndpointItemResponse"]["StatusCode"] == 202
    apns = {k: rows[2][k] for k in ("ChannelType", "Address", "Demographic")}
    answer = put_events(client, users["cy"], eid["cy"], apns, "_session.start")
    assert answer["EndpointItemResponse"]["StatusCode"] == 400  # told to re-register
    assert "PUT /v1/devices/" in answer["EndpointItemResponse"]["Message"]

    # 3. a Pinpoint campaign on a custom event, with its segment, converted to drafts
    name = f"Feature tour {run}"
    campaign = {
        "CampaignResponse": {
            "Id": f"c-{run}", "ApplicationId": "pp-project-1", "Name": name,
            "SegmentId": f"s-{run}", "SegmentVersion": 1, "HoldoutPercent": 0,
            "MessageConfiguration": {"GCMMessage": {
                "Title": "New for {{Attributes.plan}} members",
                "Body": "Hi {{User.UserAttributes.first_name}}, have a look", "Action": "OPEN_APP",
            }},
            "Limits": {"Daily": 1, "Total": 3},
            "Schedule": {
                "Frequency": "EVENT", "StartTime": "2026-01-01T00:00:00Z", "IsLocalTime": False,
                "EventFilter": {"FilterType": "ENDPOINT", "Dimensions": {"EventType": {
                    "DimensionType": "INCLUSIVE", "Values": ["feature_viewed"]}}},
            },
        }
    }  # fmt: skip
    segment = {
        "SegmentResponse": {
            "Id": f"s-{run}", "Name": f"Gold {run}", "SegmentType": "DIMENSIONAL",
            "Dimensions": {"Attributes": {
                "plan": {"AttributeType": "INCLUSIVE", "Values": ["gold"]}}},
        }
    }  # fmt: skip
    (tmp_path / "campaign.json").write_text(json.dumps(campaign))
    (tmp_path / "segment.json").write_text(json.dumps(segment))
    out = tmp_path / "converted"
    converted = nudge(
        stack_dir, "import", "pinpoint-campaign", str(tmp_path / "campaign.json"),
        "--segment", str(tmp_path / "segment.json"), "--out", str(out), "--json",
    )  # fmt: skip
    assert converted.returncode == 0, converted.stdout + converted.stderr
    campaign_file = next((out / "campaigns").glob("*.yaml"))
    segments_file = next((out / "segments").glob("*.yaml"))

    # 4. the marketer's review: a product update (on by default, unlike marketing under the
    # default opt-in consent), activated; then the segments and the campaign pushed
    config = yaml.safe_load(campaign_file.read_text())
    assert config["status"] == "draft"
    config |= {"status": "active", "category": "product_updates"}
    campaign_file.write_text(yaml.safe_dump(config, sort_keys=False))
    for area, path in (("segments", segments_file), ("campaign", campaign_file)):
        pushed = nudge(stack_dir, area, "push", str(path))
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    client.advance("1m")  # the pipeline picks up the published set within 30 s

    # 5. the triggering event, through PutEvents, from everyone with a device
    for who in ("ann", "bob", "dee"):
        point = {k: rows[list(users).index(who)][k] for k in ("ChannelType", "Address")}
        put_events(client, users[who], eid[who], point, "feature_viewed")
    client.drain()

    assert inbox(client, token["ann"]) == ["New for gold members"]  # the imported device
    assert inbox(client, token["bob"]) == []  # opted out in Pinpoint: every category off
    assert inbox(client, token["dee"]) == []  # not in the converted segment
    report = nudge(stack_dir, "report", "campaign", config["id"], "--json")
    assert report.returncode == 0, report.stderr
    assert json.loads(report.stdout)["sent"] == 1
