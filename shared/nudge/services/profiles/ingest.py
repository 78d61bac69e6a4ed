"""POST /v1/events: validate each event, queue the valid ones, report the rest by index."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nudge.clock import Clock
from nudge.domain.config import EngagementConfig
from nudge.domain.profiles.ingest import validate_events
from nudge.models.events import IncomingEvent, IngestResult, QueuedBatch, Rejection
from nudge.services.ports import EventPublisher

MAX_MESSAGE_BYTES = 240_000  # under SQS's 256 KiB with room for the envelope


class QueueUnavailable(Exception):
    """Nothing could be queued: the client should retry the whole request."""


@dataclass
class IngestService:
    publisher: EventPublisher
    config: EngagementConfig
    clock: Clock

    def ingest(self, user_id: str, raw_events: list[Any]) -> IngestResult:
        now = self.clock.now()
        validated = validate_events(raw_events, now, self.config)
        chunks = _chunk(validated.valid)
        batches = [
            QueuedBatch(user_id=user_id, received_at=now, events=[e for _, e in chunk])
            for chunk in chunks
        ]
        try:
            failed = set(self.publisher.publish(batches)) if batches else set()
        except Exception as error:  # throttled or unreachable: the app retries the request
            raise QueueUnavailable(f"events queue unavailable: {type(error).__name__}") from error
        if batches and len(failed) == len(batches):
            raise QueueUnavailable("events queue unavailable")
        rejected = list(validated.rejected)
        for number in sorted(failed):
            rejected.extend(
                Rejection(
                    index=index,
                    event_id=event.event_id,
                    error="temporarily not accepted; retry this event",
                )
                for index, event in chunks[number]
            )
        accepted = sum(len(chunk) for number, chunk in enumerate(chunks) if number not in failed)
        return IngestResult(accepted=accepted, rejected=sorted(rejected, key=lambda r: r.index))


def _chunk(events: list[tuple[int, IncomingEvent]]) -> list[list[tuple[int, IncomingEvent]]]:
    chunks: list[list[tuple[int, IncomingEvent]]] = []
    size = 0
    for item in events:
        event_size = len(item[1].model_dump_json()) + 1
        if not chunks or size + event_size > MAX_MESSAGE_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += event_size
    return chunks
