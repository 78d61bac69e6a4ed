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


class Activity:
    """A generation counter a queue's idle pollers wait on.

    Pollers back off for up to a second when their queue is empty (each empty poll costs
    moto a request, and empty polls were half of all requests); a drain that sees messages
    waiting pokes that queue's pollers awake, so a drained pipeline stays quick.
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.generation = 0

    def poke(self) -> None:
        with self._condition:
            self.generation += 1
            self._condition.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        with self._condition:
            self._condition.wait_for(lambda: self.generation != seen, timeout)
            return self.generation


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
        activity: Activity,
    ) -> None:
        super().__init__(name=f"sqs-{source.queue}", daemon=True)
        self.source = source
        self.function = function
        self.sqs = sqs
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.retry_delay_s = retry_delay_s
        self.stop_event = stop
        self.activity = activity
        self.busy = False
        self.batches = 0
        self.failed_records = 0
        self.paused = threading.Event()
        self.parked: dict[str, str] = {}  # message id -> receipt handle (hidden by the function)
        self._parked_lock = threading.Lock()

    def run(self) -> None:
        idle, seen = 0, self.activity.generation
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
            # an idle queue is polled less and less often (down to once a second) unless
            # something ran that may have queued work: empty polls kept moto's CPU busy
            idle = 0 if messages else min(idle + 1, 6)
            if idle:
                seen = self.activity.wait(seen, 0.03 * 2 ** (idle - 1))

    def _receive(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while len(messages) < self.source.batch_size:
            wanted = min(10, self.source.batch_size - len(messages))
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=wanted,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
                WaitTimeSeconds=0,
            )
            batch = response.get("Messages", [])
            messages.extend(batch)
            if len(batch) < wanted:  # the queue had no more: no empty request to find that out
                break
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
