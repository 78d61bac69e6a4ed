"""A Kinesis batch into the events queue, as POST /v1/events queues a request's events.

Records are read one by one (domain/migration/kinesis_records.py), then each user's events of
the whole batch go through the IngestService together: one validation per event, and one
QueuedBatch per user of up to 100 events, sent ten messages a request, instead of one SQS
message per record (Amplify puts one event per record). A record fails, and only that record,
when it can't be read or any of its events was refused or not queued: Lambda retries it (and
the records after it, as Kinesis does) and then reports it to the on-failure destination.
Records retried after being queued once are duplicates the event processor drops by event id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from nudge.domain.config import EngagementConfig
from nudge.domain.migration.kinesis_records import RecordRefused, read_record
from nudge.models.events import MAX_EVENTS_PER_REQUEST
from nudge.services.profiles.ingest import IngestService, QueueUnavailable


@dataclass(frozen=True)
class StreamRecord:
    sequence_number: str  # what batchItemFailures names
    record_id: str  # Lambda's eventID: the shard and the sequence number
    data: Any  # base64, as Lambda hands it over


@dataclass
class KinesisOutcome:
    records: int = 0
    accepted: int = 0  # events queued
    duplicates: int = 0  # the same event id again in this batch (the app put it twice)
    failures: dict[str, str] = field(default_factory=dict)  # sequence number -> why


@dataclass
class KinesisIngest:
    ingest: IngestService
    config: EngagementConfig

    def process(self, records: Sequence[StreamRecord]) -> KinesisOutcome:
        outcome = KinesisOutcome(records=len(records))
        # per user, in stream order: (sequence number, index in its record, raw event)
        per_user: dict[str, list[tuple[str, int, Any]]] = {}
        seen: dict[str, set[str]] = {}
        for record in records:
            try:
                read = read_record(record.record_id, record.data, self.config)
            except RecordRefused as error:
                outcome.failures[record.sequence_number] = str(error)
                continue
            ids = seen.setdefault(read.user_id, set())
            items = per_user.setdefault(read.user_id, [])
            for index, event in enumerate(read.events):
                event_id = event.get("event_id") if isinstance(event, dict) else None
                if isinstance(event_id, str) and event_id in ids:
                    outcome.duplicates += 1  # queued once; a second copy would be refused
                    continue
                if isinstance(event_id, str):
                    ids.add(event_id)
                items.append((record.sequence_number, index, event))
        for user_id, items in per_user.items():
            for start in range(0, len(items), MAX_EVENTS_PER_REQUEST):
                self._queue(user_id, items[start : start + MAX_EVENTS_PER_REQUEST], outcome)
        return outcome

    def _queue(self, user_id: str, chunk: list[tuple[str, int, Any]], out: KinesisOutcome) -> None:
        try:
            result = self.ingest.ingest(user_id, [event for _, _, event in chunk])
        except QueueUnavailable as error:
            for sequence_number, _, _ in chunk:
                out.failures.setdefault(sequence_number, f"{error}; retried")
            return
        out.accepted += result.accepted
        for rejection in result.rejected:
            sequence_number, index, _ = chunk[rejection.index]
            out.failures.setdefault(sequence_number, f"events[{index}]: {rejection.error}")
