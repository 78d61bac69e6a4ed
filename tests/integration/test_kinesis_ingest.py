"""Amplify's Kinesis path through kinesis_ingest, with its IAM role from template.yaml, and
the local stack's Kinesis event source (retry from the failed record, then the DLQ)."""

from __future__ import annotations

import json
import threading
from typing import Any

import boto3
import pytest

from nudge.models.events import QueuedBatch
from nudge_local.kinesis_source import (
    KinesisPoller,
    kinesis_sources,
    lambda_record,
    role_problems,
)
from nudge_local.resources import undeployed
from tests.integration.conftest import Aws
from tests.integration.test_handlers import api_event, deliver

pytestmark = pytest.mark.integration

STREAM = "amplify-events"
STREAM_ARN = f"arn:aws:kinesis:us-east-1:123456789012:stream/{STREAM}"


@pytest.fixture
def kinesis(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stack deployed with EventsKinesisStreamArn, and the app team's stream."""
    aws.deploy_with(monkeypatch, EventsKinesisStreamArn=STREAM_ARN)
    client = boto3.client("kinesis", region_name="us-east-1")
    client.create_stream(StreamName=STREAM, ShardCount=1)
    return client


def put(kinesis: Any, body: Any, key: str = "k") -> None:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    kinesis.put_record(StreamName=STREAM, Data=data, PartitionKey=key)


def poller(aws: Aws, kinesis: Any) -> KinesisPoller:
    (source,) = kinesis_sources(aws.spec, aws.resolver)
    (shard,) = kinesis.list_shards(StreamName=STREAM)["Shards"]
    function = aws.functions[source.function]
    dlq = aws.queue_url("KinesisIngestDLQ")
    return KinesisPoller(
        source, shard["ShardId"], function, (kinesis, aws.sqs), dlq, 0, threading.Event()
    )


def test_the_consumer_is_deployed_only_with_a_stream(aws: Aws, monkeypatch: Any) -> None:
    assert "KinesisIngestFunction" in undeployed(aws.spec, aws.resolver)
    assert kinesis_sources(aws.spec, aws.resolver) == []
    aws.deploy_with(monkeypatch, EventsKinesisStreamArn=STREAM_ARN)
    assert "KinesisIngestFunction" not in undeployed(aws.spec, aws.resolver)
    (source,) = kinesis_sources(aws.spec, aws.resolver)
    assert source.report_failures and source.bisect and source.max_retries == 2
    # least privilege: this stream and the DLQ, as Lambda checks when it creates the mapping
    role = aws.iam.roles["KinesisIngestFunction"]
    assert role_problems(role, source) == []
    other = source.__class__(**{**source.__dict__, "stream_arn": STREAM_ARN + "-other"})
    assert len(role_problems(role, other)) == 5


def test_records_of_both_shapes_reach_the_profile_and_bad_ones_fail_alone(
    aws: Aws, kinesis: Any
) -> None:
    at = aws.clock.now().isoformat()
    put(kinesis, {"user_id": "ann", "events": [
        {"event_id": "k-1", "name": "session_start", "timestamp": at},
        {"name": "screen_view", "timestamp": at, "properties": {"screen": "home"}},
    ]})  # fmt: skip
    put(kinesis, b"{not json")
    put(kinesis, {"EventType": "_monetization.purchase", "Timestamp": at,
                  "Attributes": {"_currency": "EUR"}, "Metrics": {"_item_price": 4.0},
                  "Endpoint": {"User": {"UserId": "ann"}}})  # fmt: skip
    put(kinesis, {"name": "screen_view", "timestamp": at})  # no user
    records = kinesis.get_records(
        ShardIterator=kinesis.get_shard_iterator(
            StreamName=STREAM, ShardId="shardId-000000000000", ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
    )["Records"]
    (source,) = kinesis_sources(aws.spec, aws.resolver)
    event = {"Records": [lambda_record(r, "shardId-000000000000", source) for r in records]}
    result = aws.invoke("KinesisIngestFunction", event)  # IAM enforced: its own role
    assert result == {
        "batchItemFailures": [{"itemIdentifier": records[i]["SequenceNumber"]} for i in (1, 3)]
    }
    assert aws.iam.denials == []
    (message,) = aws.receive_all("EventsQueue")  # one queue message for ann's whole batch
    batch = QueuedBatch.model_validate_json(message["Body"])
    assert [e.name for e in batch.events] == ["session_start", "screen_view", "purchase"]

    aws.sqs.send_message(QueueUrl=aws.queue_url("EventsQueue"), MessageBody=message["Body"])
    assert deliver(aws) == {"batchItemFailures": []}
    me = json.loads(aws.invoke("DevicesApiFunction", api_event("GET", "/v1/me"))["body"])
    assert me["profile"]["counts"]["session_start"]["total"] == 1
    assert me["profile"]["counts"]["purchase"]["total"] == 1


def test_the_event_source_retries_from_the_failed_record_then_reports_it(
    aws: Aws, kinesis: Any
) -> None:
    at = aws.clock.now().isoformat()
    put(kinesis, {"user_id": "bob", "event_id": "b-1", "name": "session_start", "timestamp": at})
    put(kinesis, b"\xff\xfe not utf-8")
    put(kinesis, {"user_id": "bob", "event_id": "b-2", "name": "screen_view", "timestamp": at})
    shard = poller(aws, kinesis)
    function = aws.functions["KinesisIngestFunction"]
    before = function.invocations
    assert shard._poll() is True
    # the batch, then the failed record and those after it, twice (MaximumRetryAttempts: 2)
    assert function.invocations - before == 3
    (report,) = aws.receive_all("KinesisIngestDLQ")
    info = json.loads(report["Body"])["KinesisBatchInfo"]
    sequence_numbers = [r["SequenceNumber"] for r in kinesis.get_records(
        ShardIterator=kinesis.get_shard_iterator(
            StreamName=STREAM, ShardId=shard.shard_id, ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
    )["Records"]]  # fmt: skip
    assert info["startSequenceNumber"] == sequence_numbers[1]
    assert info["streamArn"] == STREAM_ARN and info["batchSize"] == 2
    assert shard._poll() is False and shard.settled()
    # b-2 was queued on every attempt: the event processor keeps it once
    assert deliver(aws) == {"batchItemFailures": []}
    me = json.loads(
        aws.invoke("DevicesApiFunction", api_event("GET", "/v1/me", user="bob"))["body"]
    )
    assert {r["event_id"] for r in me["history"] if r["type"] == "event"} == {"b-1", "b-2"}
