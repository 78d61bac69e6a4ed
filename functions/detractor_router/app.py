"""detractor_router: DetractorsQueue consumer - each detractor's answer to the survey's
webhook and/or SNS topic. A failed delivery raises: the record is retried, then dead-lettered.
A refused webhook (unsafe destination, no signing secret) fails only its own record, logged
as such (DetractorWebhooksRefused): the rest of the batch is delivered."""

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
from nudge.services.nps.detractors import WebhookRefused

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# a batch that failed entirely is reported record by record too (not raised): same retries
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def route(record: SQSRecord) -> None:
    try:
        result = runtime.detractor_router().deliver(record.body)
    except WebhookRefused as error:
        metrics.add_metric("DetractorWebhooksRefused", MetricUnit.Count, 1)
        logger.error(
            "detractor webhook refused: nothing sent",
            message_id=record.message_id,
            receives=record.attributes.approximate_receive_count,
            error=str(error)[:300],
        )
        raise
    except Exception as error:
        metrics.add_metric("DetractorDeliveryFailures", MetricUnit.Count, 1)
        logger.warning(
            "detractor delivery failed",
            message_id=record.message_id,
            receives=record.attributes.approximate_receive_count,
            error=str(error)[:300],
        )
        raise
    metrics.add_metric(
        "DetractorsDelivered" if result == "delivered" else "DetractorsGone", MetricUnit.Count, 1
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=route, processor=processor, context=context
    )
