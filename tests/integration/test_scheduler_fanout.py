"""The scheduler's fan-out over moto with the template's queue and IAM: the tick queues the due
buckets on SchedulerShardsQueue, scheduler_worker takes them through (its own role)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from nudge.services.pipeline.scheduler import CURSOR
from tests.integration.conftest import Aws, sample_event, sqs_event
from tests.integration.test_handlers import deliver, good_event, post_events

pytestmark = pytest.mark.integration
USERS = [f"user-{n}" for n in range(8)]
QUEUE = "SchedulerShardsQueue"


def lifecycle(aws: Aws) -> dict[str, Any]:
    report = aws.invoke("AdminApiFunction", sample_event("admin_api/lifecycle_report.json"))
    return json.loads(report["body"])  # type: ignore[no-any-return]


def tick(aws: Aws) -> dict[str, Any]:
    return aws.invoke("SchedulerFunction", sample_event("scheduler/tick.json"))  # type: ignore[no-any-return]


def work_queue(aws: Aws) -> int:
    """Hand the shards queue to scheduler_worker one message at a time (BatchSize 1) until
    it is empty, as the event source would; the number of deliveries."""
    deliveries = 0
    while messages := aws.receive_all(QUEUE):
        for message in messages:
            result = aws.invoke("SchedulerWorkerFunction", sqs_event(QUEUE, [message]))
            assert result == {"batchItemFailures": []}
            aws.sqs.delete_message(
                QueueUrl=aws.queue_url(QUEUE), ReceiptHandle=message["ReceiptHandle"]
            )
            deliveries += 1
    return deliveries


@pytest.fixture
def due_users(aws: Aws) -> Aws:
    tick(aws)  # the cursor starts now
    for n, user in enumerate(USERS):
        post_events(aws, [good_event(n, aws)], user=user)
    assert deliver(aws) == {"batchItemFailures": []}
    aws.clock.advance(timedelta(days=8))  # all of them due: new -> at_risk
    return aws


def test_the_tick_fans_out_and_the_worker_moves_every_due_user_once(due_users: Aws) -> None:
    aws = due_users
    first = tick(aws)
    assert first["queued"] >= 2  # several shards, one message each
    buckets = [json.loads(m["Body"]) for m in aws.receive_all(QUEUE)]
    assert len(buckets) == first["queued"]
    for body in buckets:  # put back what was looked at, twice: duplicates are harmless
        for _ in range(2):
            aws.sqs.send_message(QueueUrl=aws.queue_url(QUEUE), MessageBody=json.dumps(body))
    work_queue(aws)
    report = lifecycle(aws)
    assert report["stages"]["at_risk"] == len(USERS)
    assert report["transitions"] == {"new->at_risk": len(USERS)}
    again = tick(aws)
    assert again["queued"] == 0
    now_hour = int(aws.clock.now().timestamp()) // 3600
    assert again["cursor"] == now_hour
    stored = aws.ddb.get_item(
        TableName=aws.resolver.physical["ProfilesTable"]["Ref"],
        Key={"user_id": {"S": f"#{CURSOR}"}},
    )
    assert int(stored["Item"]["cursor"]["N"]) == now_hour


def test_a_worker_out_of_time_queues_the_rest_of_its_bucket(
    due_users: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws = due_users
    worker = aws.functions["SchedulerWorkerFunction"]._load()
    monkeypatch.setattr(worker, "RESERVE_MS", 10**9)  # always out of time: one user a delivery
    assert tick(aws)["queued"] < len(USERS)  # buckets hold several users
    assert work_queue(aws) == len(USERS)  # one user a delivery, each queuing the rest again
    assert lifecycle(aws)["transitions"] == {"new->at_risk": len(USERS)}
    assert tick(aws)["queued"] == 0


def test_a_malformed_message_fails_alone(due_users: Aws) -> None:
    aws = due_users
    tick(aws)
    (good, *_) = aws.receive_all(QUEUE)
    bad = {**good, "MessageId": "bad-1", "Body": json.dumps({"hour": 1, "shard": 0, "part": 2})}
    result = aws.invoke("SchedulerWorkerFunction", sqs_event(QUEUE, [good, bad]))
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
