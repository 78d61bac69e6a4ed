"""Kinesis event-source emulation with Lambda's semantics (an `AWS::Lambda::EventSourceMapping`
on a Kinesis stream in template.yaml, deployed when its Condition holds).

The stream is created in moto (in AWS it is the app team's), one poller per shard reads it
from the mapping's StartingPosition and invokes the function with Lambda's Kinesis event
(base64 `data`, `sequenceNumber`, `partitionKey`, `eventID`, `eventSourceARN`). With
ReportBatchItemFailures the batch is retried from the lowest failed sequence number (the
records before it are done); a handler error bisects the batch when BisectBatchOnFunctionError
is set; after MaximumRetryAttempts the rest of the batch is reported to the on-failure
destination (an SQS queue) as Lambda reports it, by shard and sequence numbers, and the poller
moves on. As CreateEventSourceMapping does, the start checks that the function's role may
read the stream and send to the destination.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nudge_local.iam import Role, decide
from nudge_local.iam_requests import Request
from nudge_local.resources import ACCOUNT, REGION, Resolver, undeployed
from nudge_local.template import StackSpec

log = logging.getLogger("devstack.kinesis")
# what Lambda reads a stream with (a standard iterator): the execution role must allow them
READ_ACTIONS = (
    "kinesis:DescribeStream",
    "kinesis:DescribeStreamSummary",
    "kinesis:GetRecords",
    "kinesis:GetShardIterator",
    "kinesis:ListShards",
)
MAX_IDLE_WAIT_S = 1.0


@dataclass(frozen=True)
class KinesisSource:
    mapping: str  # the mapping's logical id
    function: str
    stream_arn: str
    starting_position: str  # TRIM_HORIZON or LATEST
    batch_size: int
    report_failures: bool
    bisect: bool
    max_retries: int  # -1: until the record expires, as Lambda's default
    on_failure_arn: str | None

    @property
    def stream_name(self) -> str:
        return self.stream_arn.rsplit("/", 1)[-1]


def kinesis_sources(spec: StackSpec, resolver: Resolver) -> list[KinesisSource]:
    """The template's deployed event source mappings that read a Kinesis stream."""
    skipped = undeployed(spec, resolver)
    sources = []
    for name, props in spec.resources("AWS::Lambda::EventSourceMapping").items():
        if name in skipped:
            continue
        arn = str(resolver.resolve(props["EventSourceArn"]))
        if ":kinesis:" not in arn:
            continue
        destination = props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        sources.append(
            KinesisSource(
                mapping=name,
                function=props["FunctionName"]["Ref"],
                stream_arn=arn,
                starting_position=str(resolver.resolve(props["StartingPosition"])),
                batch_size=int(props.get("BatchSize", 100)),
                report_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
                bisect=bool(props.get("BisectBatchOnFunctionError", False)),
                max_retries=int(props.get("MaximumRetryAttempts", -1)),
                on_failure_arn=str(resolver.resolve(destination)) if destination else None,
            )
        )
    return sources


def role_problems(role: Role, source: KinesisSource) -> list[str]:
    """What the role lacks for this mapping (Lambda refuses to create it then)."""
    wanted = [Request(action, source.stream_arn) for action in READ_ACTIONS]
    if source.on_failure_arn:
        wanted.append(Request("sqs:SendMessage", source.on_failure_arn))
    return [f"{r.action} on {r.resource}" for r in wanted if not decide(role, r).allowed]


def start_kinesis_sources(
    spec: StackSpec,
    resolver: Resolver,
    clients: tuple[Any, Any],  # (kinesis, sqs)
    functions: dict[str, Any],  # logical id -> an execution environment (invoke)
    roles: dict[str, Role],
    retry_delay_s: float,
    stop: threading.Event,
) -> list[KinesisPoller]:
    kinesis, sqs = clients
    pollers = []
    for source in kinesis_sources(spec, resolver):
        problems = role_problems(roles[source.function], source)
        if problems:
            raise RuntimeError(
                f"{source.mapping}: the role of {source.function} cannot {'; '.join(problems)} "
                "(Lambda would refuse the event source mapping)"
            )
        kinesis.create_stream(StreamName=source.stream_name, ShardCount=1)
        kinesis.get_waiter("stream_exists").wait(
            StreamName=source.stream_name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 50}
        )
        dlq_url = None
        if source.on_failure_arn:
            dlq_url = sqs.get_queue_url(QueueName=source.on_failure_arn.rsplit(":", 1)[-1])[
                "QueueUrl"
            ]
        shards = kinesis.list_shards(StreamName=source.stream_name)["Shards"]
        for shard in shards:
            poller = KinesisPoller(
                source, shard["ShardId"], functions[source.function], (kinesis, sqs), dlq_url,
                retry_delay_s, stop,
            )  # fmt: skip
            poller.start()
            pollers.append(poller)
    return pollers


class KinesisPoller(threading.Thread):
    """One shard, read in order; a batch is done (or reported) before the next is read."""

    def __init__(
        self,
        source: KinesisSource,
        shard_id: str,
        function: Any,
        clients: tuple[Any, Any],
        dlq_url: str | None,
        retry_delay_s: float,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"kinesis-{source.stream_name}-{shard_id}", daemon=True)
        self.source = source
        self.shard_id = shard_id
        self.function = function
        self.kinesis, self.sqs = clients
        self.dlq_url = dlq_url
        self.retry_delay_s = retry_delay_s
        self.stop_event = stop
        self.wake = threading.Event()
        self._cycle = threading.Lock()  # held while a read is delivered and the position moves
        self.iterator = self.kinesis.get_shard_iterator(
            StreamName=source.stream_name,
            ShardId=shard_id,
            ShardIteratorType=source.starting_position,
        )["ShardIterator"]
        self.batches = 0
        self.failed_batches = 0  # reported to the on-failure destination

    def run(self) -> None:
        idle = 0
        while not self.stop_event.is_set():
            read = False
            try:
                with self._cycle:
                    read = self._poll()
            except Exception:
                log.exception("kinesis poller %s failed; continuing", self.name)
            idle = 0 if read else min(idle + 1, 6)
            if idle:
                self.wake.wait(min(MAX_IDLE_WAIT_S, 0.03 * 2 ** (idle - 1)))
                self.wake.clear()

    def settled(self) -> bool:
        """Nothing left to read at the poller's position and no batch in flight (a drain)."""
        if not self._cycle.acquire(blocking=False):
            return False
        try:
            response = self.kinesis.get_records(ShardIterator=self.iterator, Limit=1)
            waiting = bool(response["Records"])
        finally:
            self._cycle.release()
        if waiting:
            self.wake.set()
        return not waiting

    def _poll(self) -> bool:
        response = self.kinesis.get_records(
            ShardIterator=self.iterator, Limit=self.source.batch_size
        )
        records = response["Records"]
        if records:
            self.batches += 1
            self._deliver([lambda_record(r, self.shard_id, self.source) for r in records])
        self.iterator = response.get("NextShardIterator") or self.iterator
        return bool(records)

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        """Invoke until done; failed records retried, bisected or reported to the DLQ."""
        attempts = 0
        while batch and not self.stop_event.is_set():
            failed_from, crashed = self._invoke(batch)
            if failed_from is None:
                return
            if crashed and self.source.bisect and len(batch) > 1:
                half = len(batch) // 2
                self._deliver(batch[:half])
                self._deliver(batch[half:])
                return
            attempts += 1
            batch = batch[failed_from:]  # the records before the failed one are done
            if 0 <= self.source.max_retries < attempts:
                self._report(batch, attempts, crashed)
                return
            self.stop_event.wait(self.retry_delay_s)

    def _invoke(self, batch: list[dict[str, Any]]) -> tuple[int | None, bool]:
        """(index of the first record to retry or None, whether the handler raised)."""
        try:
            result = self.function.invoke({"Records": batch})
        except Exception as error:
            log.warning("%s raised %s on a Kinesis batch", self.source.function, error)
            return 0, True
        if not self.source.report_failures or not isinstance(result, dict):
            return None, False
        failures = result.get("batchItemFailures") or []
        positions = {r["kinesis"]["sequenceNumber"]: i for i, r in enumerate(batch)}
        named = [f.get("itemIdentifier") for f in failures if isinstance(f, dict)]
        if not failures:
            return None, False
        if len(named) != len(failures) or any(n not in positions for n in named):
            return 0, False  # an unknown identifier: Lambda retries the whole batch
        return min(positions[n] for n in named), False

    def _report(self, batch: list[dict[str, Any]], attempts: int, crashed: bool) -> None:
        self.failed_batches += 1
        log.warning(
            "%s: %d Kinesis records kept failing; reported to the on-failure destination",
            self.source.function,
            len(batch),
        )
        if self.dlq_url is None:
            return  # no destination: Lambda drops them and moves on
        arrivals = [r["kinesis"]["approximateArrivalTimestamp"] for r in batch]
        body = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.source.function}",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                **({"functionError": "Unhandled"} if crashed else {}),
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "KinesisBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": batch[0]["kinesis"]["sequenceNumber"],
                "endSequenceNumber": batch[-1]["kinesis"]["sequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(min(arrivals)),
                "approximateArrivalOfLastRecord": _iso(max(arrivals)),
                "batchSize": len(batch),
                "streamArn": self.source.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=self.dlq_url, MessageBody=json.dumps(body))


def lambda_record(record: dict[str, Any], shard_id: str, source: KinesisSource) -> dict[str, Any]:
    """A GetRecords record as Lambda hands it to the function."""
    arrival = record.get("ApproximateArrivalTimestamp")
    sequence = record["SequenceNumber"]
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": record["PartitionKey"],
            "sequenceNumber": sequence,
            "data": base64.b64encode(record["Data"]).decode(),
            "approximateArrivalTimestamp": arrival.timestamp() if arrival else 0.0,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{shard_id}:{sequence}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": f"arn:aws:iam::{ACCOUNT}:role/nudge-local-{source.function}",
        "awsRegion": REGION,
        "eventSourceARN": source.stream_arn,
    }


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()
