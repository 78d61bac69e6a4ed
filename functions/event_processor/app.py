"""event_processor: SQS batch consumer that folds events into profiles and lifecycle stages."""

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
processor = BatchProcessor(event_type=EventType.SQS)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    # Events are grouped by user across the whole batch (one profile write per user), then
    # BatchProcessor reports each message's own outcome as batchItemFailures.
    records = [(record["messageId"], record["body"]) for record in event["Records"]]
    outcome = runtime.processing_service().process(records)
    metrics.add_metric("EventsApplied", MetricUnit.Count, outcome.applied_events)
    metrics.add_metric("EventsDuplicate", MetricUnit.Count, outcome.duplicate_events)
    metrics.add_metric("StageTransitions", MetricUnit.Count, len(outcome.transitions))
    engagement_metrics.emit(outcome.engagement)
    for ignored in outcome.ignored:
        logger.warning("opt-out event ignored", detail=ignored[:300])
    for message_id, error in outcome.failures.items():
        logger.warning("message failed", message_id=message_id, error=str(error)[:500])

    def report(record: SQSRecord) -> None:
        failure = outcome.failures.get(record.message_id)
        if failure is not None:
            raise failure

    return process_partial_response(
        event=event, record_handler=report, processor=processor, context=context
    )
