"""The template lets the scheduler scale: the consumers `make bench`'s figure calls for to clear
1,000,000 due users in 15 minutes may all work at once, and the shards queue is built like
the other SQS consumers' (a DLQ with an alarm, a visibility timeout of 6x the function's)."""

from __future__ import annotations

from typing import Any

from nudge_local.template import read_stack
from tests.bench.scheduler import measure

SPEC = read_stack()
RESOURCES: dict[str, Any] = SPEC.template["Resources"]


def test_the_template_allows_the_consumers_the_measured_figure_needs() -> None:
    figures = measure(users=600)
    needed = figures.consumers_needed
    assert 1 <= needed <= figures.max_concurrency, figures
    assert needed <= figures.messages_per_hour, figures  # due_shards x parts per bucket
    reserved = RESOURCES["SchedulerWorkerFunction"]["Properties"]
    assert "ReservedConcurrentExecutions" not in reserved  # a cap, never a reservation


def test_the_shards_queue_dead_letters_with_an_alarm_and_outlives_a_consumer() -> None:
    queue = RESOURCES["SchedulerShardsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["SchedulerShardsDLQ", "Arn"]
    }
    worker = SPEC.functions["SchedulerWorkerFunction"]
    assert queue["VisibilityTimeout"] >= 6 * worker.timeout
    (source,) = [s for s in SPEC.sqs_sources if s.queue == "SchedulerShardsQueue"]
    assert source.function == "SchedulerWorkerFunction" and source.report_failures
    assert source.batch_size == 1
    alarmed = [
        r["Properties"]
        for r in RESOURCES.values()
        if r["Type"] == "AWS::CloudWatch::Alarm"
        and r["Properties"]["Namespace"] == "AWS/SQS"
        and r["Properties"]["Dimensions"][0]["Value"]
        == {"Fn::GetAtt": ["SchedulerShardsDLQ", "QueueName"]}
    ]
    assert alarmed
