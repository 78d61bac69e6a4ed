"""push_sender: SQS pushes consumer; the only function that loads firebase-admin."""

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
from nudge.api import engagement_metrics

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# A batch whose every push waits for quiet hours to end is normal here, not a function error
# (an on-call alarm): all of its records are reported as failures and go back to the queue.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class Later(Exception):
    """Not now: the record goes back to the queue, hidden until it is due."""


def _receives(record: dict[str, Any]) -> int:
    return int(SQSRecord(record).attributes.approximate_receive_count or 1)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    service = runtime.push_service()
    service.new_batch()  # each broadcast's status: read once in this batch
    records = event.get("Records", [])
    # every job gated and claimed, then one FCM send for the batch, then each job's outcomes
    results = service.process_batch([(r["body"], _receives(r)) for r in records])
    by_message = {r["messageId"]: result for r, result in zip(records, results, strict=True)}

    def settle(record: SQSRecord) -> None:
        """A job's result as the record's: an error fails that record alone."""
        result = by_message[record.message_id]
        if isinstance(result, Exception):
            raise result
        for delivery in result.deliveries:
            metrics.add_metric(f"Push{delivery.outcome.capitalize()}", MetricUnit.Count, 1)
        engagement_metrics.emit(result.engagement)
        if not result.done:
            runtime.push_queue().hide(record.receipt_handle, result.delay_s)
            raise Later(f"retry in {result.delay_s}s")

    response = process_partial_response(
        event=event, record_handler=settle, processor=processor, context=context
    )
    # the batch's one write: its marker (its claims were accepted) and what its jobs counted;
    # if it fails, the whole batch comes back and settles its claims (never sent twice)
    service.end_batch()
    return response
