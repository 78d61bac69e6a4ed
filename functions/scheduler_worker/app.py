"""scheduler_worker: SQS consumer of the tick's due buckets, many at once. Each message is
one bucket; its due users are taken through until done (then the bucket is marked done) or
until this invocation's time runs short (then the bucket is queued again). A consumer that
dies midway leaves its message to SQS's redelivery: see nudge.services.pipeline.scheduler."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudge import runtime
from nudge.models.scheduler import DueShard

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)
# Time kept back from the function's timeout: the user in hand, the done mark or the message
# that queues the rest of the bucket again.
RESERVE_MS = 15_000


def work(record: SQSRecord, lambda_context: LambdaContext) -> None:
    shard = DueShard.model_validate_json(record.body)  # malformed: fails, then the DLQ

    def out_of_time() -> bool:
        return bool(lambda_context.get_remaining_time_in_millis() < RESERVE_MS)

    report = runtime.scheduler_service().process_shard(shard, out_of_time)
    metrics.add_metric("UsersChecked", MetricUnit.Count, report.checked)
    metrics.add_metric("StageTransitions", MetricUnit.Count, len(report.transitions))
    logger.info(
        "due bucket",
        part=shard.key,
        checked=report.checked,
        transitions=len(report.transitions),
        done=report.marked_done or report.already_done,
        requeued=report.requeued,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # `work` takes the context (Powertools passes it to a handler with `lambda_context`)
    return process_partial_response(
        event=event, record_handler=work, processor=processor, context=context
    )
