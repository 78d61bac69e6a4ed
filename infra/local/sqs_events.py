"""SQS event-source emulation with Lambda's semantics.

Batches of up to BatchSize, `batchItemFailures` honoured (only those records return to the
queue), a handler error fails the whole batch, failed records become visible again after the
(locally shortened) visibility timeout, and moto's redrive moves a record to the DLQ once it
has been received maxReceiveCount times.

A function that hides its failed records itself (push_sender defers a push to the end of the
user's quiet hours, in *virtual* time) keeps its visibility: those records are "parked" until
the virtual clock moves, then released so the function looks at them again at the new time.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from nudge_local.functions import LocalFunction
from nudge_local.resources import REGION
from nudge_local.template import SqsSource

log = logging.getLogger("devstack.sqs")


class SqsPoller(threading.Thread):
    def __init__(
        self,
        source: SqsSource,
        function: LocalFunction,
        sqs: Any,
        queue_url: str,
        queue_arn: str,
        retry_delay_s: float,
        stop: threading.Event,
    ) -> None:
        super().__init__(name=f"sqs-{source.queue}", daemon=True)
        self.source = source
        self.function = function
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.retry_delay_s = retry_delay_s
        self.stop_event = stop
        self.busy = False
        self.batches = 0
        self.failed_records = 0
        self.paused = threading.Event()
        self.parked: dict[str, str] = {}  # message id -> receipt handle (hidden by the function)
        self._parked_lock = threading.Lock()

    def run(self) -> None:
        idle = 0
        while not self.stop_event.is_set():
            if self.paused.is_set():
                time.sleep(0.02)
                continue
            messages: list[dict[str, Any]] = []
            try:
                # Busy only while it holds messages: received ones are in flight (counted by
                # the drain's depth read), so an idle poll need not block a drain. With many
                # queues, pollers that were "busy" during every empty poll rarely all rested
                # at once, and drains timed out with every queue empty.
                messages = self._receive()
                if messages:
                    self.busy = True
                    self._deliver(messages)
            except Exception:
                log.exception("poller %s failed; continuing", self.source.queue)
            finally:
                self.busy = False
            # an idle queue is polled less and less often (up to 10 times a second): six
            # pollers spinning at 50 polls a second kept moto's CPU busy for nothing
            idle = 0 if messages else min(idle + 1, 5)
            if idle:
                time.sleep(0.02 * idle)

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < self.source.batch_size:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.source.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            batch = response.get("Messages", [])
            if not batch:
                break
            messages.extend(batch)
        return messages

    def release_parked(self) -> int:
        """The virtual clock moved: parked records become visible to be looked at again."""
        with self._parked_lock:
            parked, self.parked = self.parked, {}
        for receipt in parked.values():
            try:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url, ReceiptHandle=receipt, VisibilityTimeout=0
                )
            except Exception:  # received again meanwhile (a new receipt): nothing to do
                log.debug("parked record already back on %s", self.source.queue)
        return len(parked)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(m) for m in messages]}
        ids = {m["MessageId"] for m in messages}
        with self._parked_lock:
            for message_id in ids:
                self.parked.pop(message_id, None)
        try:
            result = self.function.invoke(event)
            if self.source.report_failures and isinstance(result, dict):
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            else:
                failed = set()
            if failed - ids:  # an unknown id makes Lambda treat the whole batch as failed
                failed = ids
        except Exception as error:
            log.warning(
                "%s raised %s: the whole batch returns to the queue",
                self.function.spec.logical_id,
                error,
            )
            failed = ids
        self.batches += 1
        self.failed_records += len(failed)
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(done[start : start + 10])
                ],
            )
        for message in messages:
            if message["MessageId"] in failed and self.source.hides_itself:
                with self._parked_lock:
                    self.parked[message["MessageId"]] = message["ReceiptHandle"]
            elif message["MessageId"] in failed:
                self.sqs.change_message_visibility(
                    QueueUrl=self.queue_url,
                    ReceiptHandle=message["ReceiptHandle"],
                    VisibilityTimeout=max(0, round(self.retry_delay_s)),
                )

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": message.get("MessageAttributes", {}),
            "md5OfBody": message.get("MD5OfBody", ""),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }
