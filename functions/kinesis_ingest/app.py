"""kinesis_ingest: Amplify's Kinesis path - stream records validated and queued as app events.

Deployed only with the EventsKinesisStreamArn parameter. The records are read and queued for
the whole batch first (one queue message per user), then BatchProcessor reports each record's
own outcome: a failed record is retried from its sequence number, then sent to the DLQ.
"""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.kinesis_stream_event import KinesisStreamRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudge import runtime
from nudge.services.migration.kinesis_ingest import StreamRecord

logger = Logger()
tracer = Tracer()
metrics = Metrics()
# a batch whose every record failed is answered like any other (all listed), not raised: the
# Errors alarm stays for crashes, the DLQ (and its alarm) for records that kept failing
processor = BatchProcessor(
    event_type=EventType.KinesisDataStreams, raise_on_entire_batch_failure=False
)


class RecordFailed(Exception):
    """This record is reported in batchItemFailures."""


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    records = []
    for record in event["Records"]:
        kinesis = record.get("kinesis", {})
        sequence_number = str(kinesis.get("sequenceNumber", ""))
        # eventID (`shardId-...:<sequence number>`) names the record for derived event ids
        record_id = str(record.get("eventID") or sequence_number)
        records.append(StreamRecord(sequence_number, record_id, kinesis.get("data")))
    outcome = runtime.kinesis_ingest().process(records)
    metrics.add_metric("EventsAccepted", MetricUnit.Count, outcome.accepted)
    metrics.add_metric("KinesisRecordsFailed", MetricUnit.Count, len(outcome.failures))
    for sequence_number, error in outcome.failures.items():
        logger.warning("record failed", sequence_number=sequence_number, error=error[:500])

    def report(record: KinesisStreamRecord) -> None:
        failure = outcome.failures.get(record.kinesis.sequence_number)
        if failure is not None:
            raise RecordFailed(failure)

    return process_partial_response(
        event=event, record_handler=report, processor=processor, context=context
    )
