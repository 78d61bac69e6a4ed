"""SQS: the events queue publisher (10 messages a call) and the pushes queue."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nudge.adapters.aws import client
from nudge.models.events import QueuedBatch


class SqsQueue:
    """A queue URL and a lazily created client."""

    def __init__(self, queue_url: str, sqs: Any = None) -> None:
        self.queue_url = queue_url
        self._sqs = sqs

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            self._sqs = client("sqs")
        return self._sqs


class SqsEventPublisher(SqsQueue):
    def publish(self, batches: Sequence[QueuedBatch]) -> list[int]:
        failed: list[int] = []
        for start in range(0, len(batches), 10):
            entries = [
                {"Id": str(start + offset), "MessageBody": batch.model_dump_json()}
                for offset, batch in enumerate(batches[start : start + 10])
            ]
            response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed.extend(int(entry["Id"]) for entry in response.get("Failed", []))
        return failed


class SqsPushQueue(SqsQueue):
    """The pushes queue: producers enqueue jobs; push_sender hides a record until it is due."""

    MAX_HIDE_S = 12 * 3600  # SQS's own limit for a visibility timeout

    def enqueue(self, body: str) -> None:
        self.sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)

    def enqueue_many(self, bodies: Sequence[str]) -> None:
        """Ten jobs a request (SendMessageBatch). Raise if any is refused: the producer's
        retry queues them all again, harmless as push_sender sends a dedupe key once."""
        for start in range(0, len(bodies), 10):
            entries = [
                {"Id": str(offset), "MessageBody": body}
                for offset, body in enumerate(bodies[start : start + 10])
            ]
            response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            if response.get("Failed"):
                codes = sorted({entry.get("Code", "?") for entry in response["Failed"]})
                raise RuntimeError(f"{len(response['Failed'])} push jobs not queued: {codes}")

    def hide(self, receipt_handle: str, seconds: int) -> None:
        self.sqs.change_message_visibility(
            QueueUrl=self.queue_url,
            ReceiptHandle=receipt_handle,
            VisibilityTimeout=max(0, min(seconds, self.MAX_HIDE_S)),
        )
