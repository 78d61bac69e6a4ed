"""`nudge import pinpoint-endpoints s3://...` against moto: the export in S3, the tables created
from template.yaml, the command as an operator runs it (named tables, default credentials)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from nudge.adapters.devices import DynamoDeviceStore
from nudge.adapters.dynamodb import DynamoProfileStore
from nudge.adapters.metering import WriteMeter
from nudge.domain.profiles.segments import matches
from nudge.models.segment import Segment
from nudge_cli.main import main
from tests.integration.conftest import Aws
from tests.unit.test_pinpoint_endpoints_export import write_export

pytestmark = pytest.mark.integration
TABLES = [
    "--profiles-table=ProfilesTable",
    "--devices-table=DevicesTable",
    "--history-table=HistoryTable",
]


def _import(capsys: pytest.CaptureFixture[str], *paths: str) -> dict[str, Any]:
    code = main(["import", "pinpoint-endpoints", *paths, *TABLES, "--json", "--no-progress"])
    data = json.loads(capsys.readouterr().out)
    assert code == 0, data["stopped"]
    return data


def test_an_export_in_s3_is_imported_once(
    aws: Aws, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    export = write_export(tmp_path, endpoints=400, parts=3)
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="pinpoint-exports")
    for part in export.parts:
        s3.upload_file(str(part), "pinpoint-exports", f"exports/job-1/{part.name}")
    s3.put_object(Bucket="pinpoint-exports", Key="elsewhere/other.gz", Body=b"not ours")

    data = _import(capsys, "s3://pinpoint-exports/exports/job-1/")
    assert data["endpoints"] == export.endpoints
    assert data["users"] == len(export.users)
    assert data["devices"] == export.devices
    assert data["needs_reregistration"] == export.needs_reregistration
    assert data["opted_out"] == len(export.opted_out)
    assert len(data["rejected"]) == len(export.broken)
    assert all(
        r["file"].startswith("s3://pinpoint-exports/exports/job-1/part-") for r in data["rejected"]
    )
    assert data["written"]["write_units"] > 0

    devices = DynamoDeviceStore("DevicesTable", WriteMeter(), aws.ddb)
    profiles = DynamoProfileStore("ProfilesTable", WriteMeter(), aws.ddb)
    gcm_user = next(
        user
        for user, items in export.by_user.items()
        if any(i["ChannelType"] == "GCM" and i["EndpointStatus"] == "ACTIVE" for i in items)
    )
    [device] = [d for d in devices.devices(gcm_user) if d.device_id.startswith("ep-")][:1]
    assert device.token == f"fcm-token-{device.device_id}"
    opted = sorted(export.opted_out)[0]
    prefs = devices.preferences(opted)
    assert prefs is not None and not any(prefs.categories.values())
    consent_items = aws.ddb.query(
        TableName="HistoryTable",
        KeyConditionExpression="user_id = :u AND begins_with(sk, :c)",
        ExpressionAttributeValues={":u": {"S": opted}, ":c": {"S": "c#"}},
    )["Items"]
    assert consent_items
    assert {json.loads(i["body"]["S"])["source"] for i in consent_items} == {"pinpoint-import"}

    # imported attributes are what segments test
    profile = profiles.get(gcm_user)
    assert profile is not None
    plan = profile.attributes["plan"].value
    segment = Segment.model_validate({"attributes": {"plan": [plan]}})
    other = Segment.model_validate({"attributes": {"plan": ["platinum"]}})
    assert matches(segment, profile, 0, {}, half_life_days=14)
    assert not matches(other, profile, 0, {}, half_life_days=14)

    again = _import(capsys, "s3://pinpoint-exports/exports/job-1/")
    assert again["written"] == {"profiles": 0, "devices": 0, "preferences": 0, "write_units": 0}
    assert again["users"] == data["users"]


def test_a_missing_bucket_is_a_clear_error(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="cannot list the export"):
        main(["import", "pinpoint-endpoints", "s3://no-such-bucket/x", *TABLES])
