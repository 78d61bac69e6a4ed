"""Amplify's Kinesis path through the local stack: records put on the stream named by
EventsKinesisStreamArn reach the user's profile; a bad record ends in the DLQ alone."""

from __future__ import annotations

import json
from datetime import datetime

import boto3
import pytest

from nudge_local.client import LocalClient
from tests.e2e.conftest import KINESIS_STREAM_ARN

pytestmark = pytest.mark.e2e


def test_records_on_the_stream_reach_the_profile_and_a_bad_one_the_dlq(
    client: LocalClient,
) -> None:
    state = client.state
    aws = {
        "region_name": state["region"],
        "endpoint_url": state["moto_url"],
        "aws_access_key_id": "testing",
        "aws_secret_access_key": "testing",
    }
    kinesis = boto3.client("kinesis", **aws)
    stream = KINESIS_STREAM_ARN.rsplit("/", 1)[-1]
    now = datetime.fromisoformat(client.now()).isoformat()
    records = [
        {"user_id": "amp-1", "event_id": "amp-e1", "name": "session_start", "timestamp": now},
        b"{not json",
        {"EventType": "_monetization.purchase", "Timestamp": now,
         "Metrics": {"_item_price": 3.0, "_quantity": 2}, "Attributes": {"_currency": "EUR"},
         "Endpoint": {"User": {"UserId": "amp-1"}}},
    ]  # fmt: skip
    entries = [
        {"Data": r if isinstance(r, bytes) else json.dumps(r).encode(), "PartitionKey": "amp-1"}
        for r in records
    ]
    put = kinesis.put_records(StreamName=stream, Records=entries)["Records"]
    client.drain(timeout_s=60)

    export = client.request("GET", "/admin/v1/users/amp-1", admin=True)
    assert export.status_code == 200, export.text
    counts = export.json()["profile"]["counts"]
    assert counts["session_start"]["total"] == 1 and counts["purchase"]["total"] == 1

    dlq = state["queues"]["KinesisIngestDLQ"]
    sqs = boto3.client("sqs", **aws)
    (message,) = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    info = json.loads(message["Body"])["KinesisBatchInfo"]
    assert info["streamArn"] == KINESIS_STREAM_ARN
    assert info["startSequenceNumber"] == put[1]["SequenceNumber"]  # the bad record, alone
