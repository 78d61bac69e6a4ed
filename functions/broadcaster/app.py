"""broadcaster: one paced step of a broadcast's fan-out per message. A step that fails (the
next step not scheduled, the progress not written) is left to SQS's redelivery, which
finishes it; a step of a scheduled broadcast that arrives before its start (or its wave's)
sends itself again for then ("waiting"): see nudge.services.messaging.broadcasts."""

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
from nudge.models.broadcast import BroadcastStep

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)


def run(record: SQSRecord) -> None:
    step = BroadcastStep.model_validate_json(record.body)  # malformed: fails, then the DLQ
    outcome = runtime.broadcast_service().run_step(step)
    metrics.add_metric("BroadcastSteps", MetricUnit.Count, 1)
    logger.info("broadcast step", broadcast_id=step.broadcast_id, step=step.step, outcome=outcome)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=run, processor=processor, context=context
    )
