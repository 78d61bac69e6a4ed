"""DynamoDB adapter for the user's history: events (one item per pass and hour, see
adapters/history_items.py), lifecycle transitions, consent changes and campaign decision
records, each with its own TTL, all in the user's partition (erasure and GET /v1/me cover it).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from nudge.adapters import history_items as layout
from nudge.adapters.decisions import PREFIX as DECISION_PREFIX
from nudge.adapters.decisions import at_of, decisions_of, pack_items
from nudge.adapters.dynamo_codec import write_units
from nudge.adapters.dynamo_table import DynamoTable
from nudge.domain.engagement.decision_record import DecisionRecord
from nudge.models.device import ConsentChange
from nudge.models.events import IncomingEvent
from nudge.models.profile import Transition
from nudge.services.ports import HistoryEntry

# botocore's default connection pool holds 10 connections per client
MAX_PARALLEL_QUERIES = 10


def _records(item: dict[str, Any]) -> list[dict[str, Any]]:
    """The records one item holds: a pass's events, or one transition, consent or decision."""
    sk = item["sk"]["S"]
    if sk.startswith(layout.PREFIX):
        return layout.decode(item["z"]["B"])
    body = json.loads(item.get("body", {}).get("S", "{}"))
    if sk.startswith(layout.LEGACY_PREFIX):  # one event per item, before the pass layout
        return [{"type": "event", "event_id": sk[2:], "name": item["name"]["S"], **body}]
    if sk.startswith("c#"):
        return [{"type": "consent", **body}]
    if sk.startswith(DECISION_PREFIX):  # one pass's campaign decisions
        return [{"type": "decision", "at": at_of(sk), "records": body}]
    return [{"type": "transition", **body}]


def _events_item(user_id: str, key: str, body: bytes, entry: HistoryEntry) -> dict[str, Any]:
    return DynamoTable.to_item(
        {
            "user_id": user_id,
            "sk": key,
            "z": body,
            "rcv": entry.received_at,
            "expires_at": entry.expires_at,
        }
    )


def _transition_item(user_id: str, transition: Transition, expires_at: int) -> dict[str, Any]:
    return DynamoTable.to_item(
        {
            "user_id": user_id,
            "sk": f"t#{transition.at:011d}#{transition.to_stage.value}",
            "body": transition.model_dump_json(),
            "expires_at": expires_at,
        }
    )


class DynamoHistoryStore(DynamoTable):
    """Events (which double as the dedupe record), transitions, consents and decisions."""

    def existing_event_ids(
        self, events: Sequence[tuple[str, IncomingEvent]]
    ) -> set[tuple[str, str]]:
        """Which of these (user, event) are recorded: one Query per user, over the hours the
        user's events happened in; the users' Queries run side by side (a batch's wait is
        one round trip, not one per user: Lambda bills the wait)."""
        by_user: dict[str, list[IncomingEvent]] = {}
        for user_id, event in events:
            by_user.setdefault(user_id, []).append(event)
        if len(by_user) <= 1:
            return {key for user, mine in by_user.items() for key in self._recorded(user, mine)}
        with ThreadPoolExecutor(max_workers=min(len(by_user), MAX_PARALLEL_QUERIES)) as pool:
            found = pool.map(lambda pair: self._recorded(*pair), by_user.items())
            return {key for keys in found for key in keys}

    def _recorded(self, user_id: str, events: list[IncomingEvent]) -> set[tuple[str, str]]:
        wanted = {event.event_id for event in events}
        low, high = layout.hour_range(events)
        found: set[tuple[str, str]] = set()
        for item in self.items(
            "query",
            KeyConditionExpression="user_id = :u AND sk BETWEEN :lo AND :hi",
            ExpressionAttributeValues=self.values(u=user_id, lo=low, hi=high),
            ProjectionExpression="z",
        ):
            ids = {record["event_id"] for record in layout.decode(item["z"]["B"])}
            found.update((user_id, i) for i in ids & wanted)
        return found

    def append(self, entries: Sequence[HistoryEntry]) -> None:
        items = []
        for entry in entries:
            items += [
                _events_item(entry.user_id, key, body, entry)
                for key, _, body in layout.group(entry.events)
            ]
            if entry.transition is not None:
                items.append(_transition_item(entry.user_id, entry.transition, entry.expires_at))
            # after the events: a pass whose events are in the history has its records too
            items += pack_items(entry.user_id, entry.decisions, entry.decisions_expire_at, "p")
        self.batch_write([{"PutRequest": {"Item": item}} for item in items])
        for item in items:
            self.meter.add(write_units(item))

    def put_transition(self, user_id: str, transition: Transition, expires_at: int) -> None:
        item = _transition_item(user_id, transition, expires_at)
        self.ddb.put_item(TableName=self.table, Item=item)
        self.meter.add(write_units(item))

    def put_consent(self, user_id: str, change: ConsentChange, expires_at: int) -> None:
        item = self.to_item(
            {
                "user_id": user_id,
                "sk": f"c#{change.at:011d}#{change.version:06d}#{change.category}",
                "body": change.model_dump_json(exclude_none=True),
                "expires_at": expires_at,
            }
        )
        self.ddb.put_item(TableName=self.table, Item=item)
        self.meter.add(write_units(item))

    def put_decisions(
        self, user_id: str, records: Sequence[DecisionRecord], expires_at: int
    ) -> None:
        items = pack_items(user_id, records, expires_at, "s")
        self.batch_write([{"PutRequest": {"Item": item}} for item in items])
        for item in items:
            self.meter.add(write_units(item))

    def decisions(self, user_id: str) -> list[DecisionRecord]:
        found = self.items(
            "query",
            KeyConditionExpression="user_id = :u AND begins_with(sk, :d)",
            ExpressionAttributeValues=self.values(u=user_id, d=DECISION_PREFIX),
            ScanIndexForward=False,
        )
        return [record for item in found for record in decisions_of(item)]

    def list_user(self, user_id: str) -> list[dict[str, Any]]:
        return [record for item in self._query_user(user_id) for record in _records(item)]

    def list_user_page(
        self, user_id: str, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        start, _ = layout.parse_cursor(after)
        # a cursor handed to the caller (GET /v1/me pages): the items from its own on, read
        # a page at a time (each item holds at least one record: limit + 1 items suffice)
        condition = "user_id = :u" + (" AND sk >= :after" if start else "")
        values = self.values(u=user_id, **({"after": start} if start else {}))
        items = self.items(
            "query",
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            Limit=limit + 2,
        )
        rows = ((item["sk"]["S"], _records(item)) for item in items)
        return layout.page(rows, limit, after)

    def delete_user(self, user_id: str) -> int:
        """Every item of the user's; the count of records they held."""
        items = self._query_user(user_id)
        self.batch_write(
            [
                {"DeleteRequest": {"Key": {"user_id": item["user_id"], "sk": item["sk"]}}}
                for item in items
            ]
        )
        return sum(len(_records(item)) for item in items)

    def delete_events(self, user_id: str, event_ids: Sequence[str]) -> None:
        """Take these events out (an erasure raced their write): items holding only them are
        deleted, others written back without them."""
        dropped = set(event_ids)
        requests: list[dict[str, Any]] = [
            {"DeleteRequest": {"Key": self.key(user_id=user_id, sk=f"{layout.LEGACY_PREFIX}{e}")}}
            for e in sorted(dropped)
        ]
        for item in self._event_items(user_id):
            ids = {record["event_id"] for record in layout.decode(item["z"]["B"])}
            if dropped.isdisjoint(ids):
                continue
            rest = layout.without(item["z"]["B"], dropped)
            if rest is None:
                requests.append(
                    {"DeleteRequest": {"Key": self.key(user_id=user_id, sk=item["sk"]["S"])}}
                )
            else:
                kept = {**item, **self.to_item({"z": rest})}
                requests.append({"PutRequest": {"Item": kept}})
                self.meter.add(write_units(kept))
        self.batch_write(requests)

    def _event_items(self, user_id: str) -> Iterator[dict[str, Any]]:
        return self.items(
            "query",
            KeyConditionExpression="user_id = :u AND begins_with(sk, :h)",
            ExpressionAttributeValues=self.values(u=user_id, h=layout.PREFIX),
        )

    def _query_user(self, user_id: str) -> list[dict[str, Any]]:
        return list(
            self.items(
                "query",
                KeyConditionExpression="user_id = :u",
                ExpressionAttributeValues=self.values(u=user_id),
            )
        )
