"""DynamoDB adapters: profiles (with the due-time index) and the raw event history."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from nudge.adapters.breakdown import cell_updates
from nudge.adapters.decisions import PREFIX as DECISION_PREFIX
from nudge.adapters.decisions import at_of, decisions_of, pack_items
from nudge.adapters.dynamo_codec import item_to_profile, profile_to_item, write_units
from nudge.adapters.dynamo_table import DynamoTable, condition_failed, error_code, versioned
from nudge.domain.engagement.breakdown import PREFIX as CELLS_PREFIX
from nudge.domain.engagement.decision_record import DecisionRecord
from nudge.models.device import ConsentChange
from nudge.models.events import IncomingEvent
from nudge.models.keys import SYSTEM_PREFIX
from nudge.models.profile import Profile, Transition
from nudge.models.stats import STATS_SHARDS, LifecycleCounts, StageChange
from nudge.services.ports import HistoryEntry

DUE_INDEX = "due-index"
_INDEX_ENTRY_UNITS = 1  # KEYS_ONLY projection: each index entry is far below 1 KB


MOVES_TTL = 400 * 86_400


def _conditional_failed(error: Exception) -> bool:
    response = getattr(error, "response", {})
    code = error_code(error)
    if code == "TransactionCanceledException":
        # the profile's condition failed, or another transaction held a counter item:
        # either way, re-read and try again
        reasons = {r.get("Code") for r in response.get("CancellationReasons") or []}
        return bool(reasons & {"ConditionalCheckFailed", "TransactionConflict"})
    return condition_failed(error)


def stats_key(name: str, shard: int) -> str:
    return f"{SYSTEM_PREFIX}stats#{name}#{shard}"


def stats_shard(user_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=2).digest()) % STATS_SHARDS


def _named_counter_updates(
    table: str, user_id: str, counters: Mapping[str, Mapping[str, int]]
) -> list[dict[str, Any]]:
    """ADD each field's delta to the user's shard of each named counter (expires on its own)."""
    shard = stats_shard(user_id)
    updates = []
    for name, deltas in sorted(counters.items()):
        fields = {f: d for f, d in sorted(deltas.items()) if d}
        if not fields or name.startswith(CELLS_PREFIX):  # response cells: their own table
            continue
        names = {f"#f{i}": f for i, f in enumerate(fields)}
        values = DynamoTable.to_item({f":d{i}": d for i, d in enumerate(fields.values())})
        values |= DynamoTable.values(exp=_expiry_of(name))
        adds = ", ".join(f"#f{i} :d{i}" for i in range(len(fields)))
        updates.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": DynamoTable.key(user_id=stats_key(f"c#{name}", shard)),
                    "UpdateExpression": f"ADD {adds} SET expires_at = :exp",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        )
    return updates


def _expiry_of(name: str) -> int:
    """Counters named '...#<day>' expire MOVES_TTL after that day; others after a year."""
    last = name.rsplit("#", 1)[-1]
    day = int(last) if last.isdigit() else 0
    return day * 86_400 + MOVES_TTL if day else 2**31


def _counter_updates(table: str, user_id: str, change: StageChange) -> list[dict[str, Any]]:
    shard = stats_shard(user_id)
    deltas = {}
    if change.from_stage is not None:
        deltas[change.from_stage.value] = -1
    if change.to_stage is not None:
        deltas[change.to_stage.value] = deltas.get(change.to_stage.value, 0) + 1
    deltas = {stage: delta for stage, delta in deltas.items() if delta}
    updates = []
    if deltas:
        names = {f"#s{i}": stage for i, stage in enumerate(deltas)}
        values = DynamoTable.to_item({f":d{i}": d for i, d in enumerate(deltas.values())})
        updates.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": DynamoTable.key(user_id=stats_key("stages", shard)),
                    "UpdateExpression": "ADD "
                    + ", ".join(f"#s{i} :d{i}" for i in range(len(deltas))),
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        )
    if change.move is not None:
        updates.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": DynamoTable.key(
                        user_id=stats_key(f"moves#{change.at // 86_400}", shard)
                    ),
                    "UpdateExpression": "ADD #m :one SET expires_at = :exp",
                    "ExpressionAttributeNames": {"#m": change.move},
                    "ExpressionAttributeValues": DynamoTable.values(
                        one=1, exp=change.at + MOVES_TTL
                    ),
                }
            }
        )
    return updates


class DynamoProfileStore(DynamoTable):
    # where the campaign response cells go (adapters/breakdown.py): the history table
    cells_table: str | None = None

    def get(self, user_id: str) -> Profile | None:
        response = self.ddb.get_item(
            TableName=self.table, Key=self.key(user_id=user_id), ConsistentRead=True
        )
        item = response.get("Item")
        return item_to_profile(item) if item else None

    def save(
        self,
        profile: Profile,
        previous: Profile | None,
        due_shards: int,
        change: StageChange | None = None,
        counters: Mapping[str, Mapping[str, int]] | None = None,
    ) -> bool:
        item = profile_to_item(profile, due_shards)
        condition = versioned("user_id", previous.version if previous else None)
        named = _named_counter_updates(self.table, profile.user_id, counters or {})
        if self.cells_table:
            shard = stats_shard(profile.user_id)
            named += cell_updates(self.cells_table, shard, counters or {})
        updates = [
            *(_counter_updates(self.table, profile.user_id, change) if change else []),
            *named,
        ]
        try:
            if updates:
                put = {"Put": {"TableName": self.table, "Item": item, **condition}}
                # one token per save: an SDK retry of a transaction that did commit is answered
                # as a success instead of failing its own condition
                self.ddb.transact_write_items(
                    TransactItems=[put, *updates], ClientRequestToken=uuid.uuid4().hex
                )
            else:
                self.ddb.put_item(TableName=self.table, Item=item, **condition)
        except Exception as error:
            if _conditional_failed(error):
                return False
            raise
        old_bucket = None
        if previous is not None and previous.due_at is not None:
            old_bucket = profile_to_item(previous, due_shards).get("due_bucket")
        new_bucket = item.get("due_bucket")
        index_units = (
            0
            if old_bucket == new_bucket
            else _INDEX_ENTRY_UNITS * ((old_bucket is not None) + (new_bucket is not None))
        )
        # a transaction bills two write units per item written (prepare and commit)
        factor = 2 if updates else 1
        self.meter.add(factor * (write_units(item) + len(updates)), index_units)
        return True

    def get_many(self, user_ids: Sequence[str]) -> dict[str, Profile]:
        """Profiles by id, erasure tombstones left out (a broadcast's segment filter)."""
        return {
            user_id: profile
            for user_id, profile in self._batch_get(user_ids, consistent=False).items()
            if profile.erased_at is None or profile.first_seen is not None
        }

    def get_latest(self, user_ids: Sequence[str]) -> dict[str, Profile]:
        return self._batch_get(user_ids, consistent=True)

    def _batch_get(self, user_ids: Sequence[str], consistent: bool) -> dict[str, Profile]:
        keys = [self.key(user_id=user) for user in sorted(set(user_ids))]
        profiles = map(item_to_profile, self.batch_get(keys, consistent=consistent))
        return {profile.user_id: profile for profile in profiles}

    def counters(self, names: Sequence[str]) -> dict[str, dict[str, int]]:
        keys = [stats_key(f"c#{name}", shard) for name in names for shard in range(STATS_SHARDS)]
        totals: dict[str, dict[str, int]] = {}
        for found in self.batch_get([self.key(user_id=key) for key in keys]):
            name = found["user_id"]["S"].split("#c#", 1)[1].rsplit("#", 1)[0]
            _add_counts(totals.setdefault(name, {}), found)
        return totals

    def lifecycle_counts(self, first_day: int, last_day: int) -> LifecycleCounts:
        keys = [stats_key("stages", shard) for shard in range(STATS_SHARDS)]
        keys += [
            stats_key(f"moves#{day}", shard)
            for day in range(first_day, last_day + 1)
            for shard in range(STATS_SHARDS)
        ]
        stages: dict[str, int] = {}
        moves: dict[str, int] = {}
        for found in self.batch_get([self.key(user_id=key) for key in keys]):
            _add_counts(stages if "#stages#" in found["user_id"]["S"] else moves, found)
        return LifecycleCounts(stages=stages, moves=moves)

    def delete(self, user_id: str) -> bool:
        response = self.ddb.delete_item(
            TableName=self.table, Key=self.key(user_id=user_id), ReturnValues="ALL_OLD"
        )
        return "Attributes" in response

    def due_users(self, bucket: str) -> list[str]:
        items = self.items(
            "query",
            IndexName=DUE_INDEX,
            KeyConditionExpression="due_bucket = :b",
            ExpressionAttributeValues=self.values(b=bucket),
        )
        return [item["user_id"]["S"] for item in items]

    def get_cursor(self, name: str) -> int | None:
        response = self.ddb.get_item(
            TableName=self.table,
            Key=self.key(user_id=f"{SYSTEM_PREFIX}{name}"),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return int(item["cursor"]["N"]) if item else None

    def set_cursor(self, name: str, value: int) -> None:
        item = self.to_item({"user_id": f"{SYSTEM_PREFIX}{name}", "cursor": value})
        self.ddb.put_item(TableName=self.table, Item=item)
        self.meter.add(write_units(item))


def _add_counts(target: dict[str, int], found: dict[str, Any]) -> None:
    """Sum a counter item's number attributes into `target` (its expiry is not a count)."""
    for name, value in found.items():
        if "N" in value and name != "expires_at":
            target[name] = target.get(name, 0) + int(value["N"])


def _record(item: dict[str, Any]) -> dict[str, Any]:
    sk = item["sk"]["S"]
    body = json.loads(item.get("body", {}).get("S", "{}"))
    if sk.startswith("e#"):
        return {"type": "event", "event_id": sk[2:], "name": item["name"]["S"], **body}
    if sk.startswith("c#"):
        return {"type": "consent", **body}
    if sk.startswith(DECISION_PREFIX):  # one pass's campaign decisions
        return {"type": "decision", "at": at_of(sk), "records": body}
    return {"type": "transition", **body}


def _event_item(
    user_id: str, event: IncomingEvent, received_at: int, expires_at: int
) -> dict[str, Any]:
    return DynamoTable.to_item(
        {
            "user_id": user_id,
            "sk": f"e#{event.event_id}",
            "name": event.name,
            "at": int(event.timestamp.timestamp()),
            "rcv": received_at,
            "body": event.model_dump_json(exclude={"event_id", "name"}),
            "expires_at": expires_at,
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
    """Raw events (which double as the dedupe record) and lifecycle transitions, with TTL."""

    def existing_event_ids(self, keys: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        requested = [
            self.key(user_id=user, sk=f"e#{event_id}") for user, event_id in dict.fromkeys(keys)
        ]
        found = self.batch_get(requested, projection="user_id, sk")
        return {(item["user_id"]["S"], item["sk"]["S"][2:]) for item in found}

    def append(self, entries: Sequence[HistoryEntry]) -> None:
        items = []
        for entry in entries:
            items += [
                _event_item(entry.user_id, event, entry.received_at, entry.expires_at)
                for event in entry.events
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
        return [_record(item) for item in self._query_user(user_id, projection=None)]

    def list_user_page(
        self, user_id: str, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "user_id = :u",
            "ExpressionAttributeValues": self.values(u=user_id),
            "Limit": limit,
        }
        if after:  # a cursor handed to the caller (GET /v1/me pages), so paged by hand
            kwargs["ExclusiveStartKey"] = self.key(user_id=user_id, sk=after)
        response = self.ddb.query(**kwargs)
        last = response.get("LastEvaluatedKey")
        return [_record(i) for i in response.get("Items", [])], last["sk"]["S"] if last else None

    def delete_user(self, user_id: str) -> int:
        keys = [
            {"DeleteRequest": {"Key": {"user_id": item["user_id"], "sk": item["sk"]}}}
            for item in self._query_user(user_id, projection="user_id, sk")
        ]
        self.batch_write(keys)
        return len(keys)

    def delete_events(self, user_id: str, event_ids: Sequence[str]) -> None:
        self.batch_write(
            [{"DeleteRequest": {"Key": self.key(user_id=user_id, sk=f"e#{e}")}} for e in event_ids]
        )

    def _query_user(self, user_id: str, projection: str | None) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {"ProjectionExpression": projection} if projection else {}
        return list(
            self.items(
                "query",
                KeyConditionExpression="user_id = :u",
                ExpressionAttributeValues=self.values(u=user_id),
                **kwargs,
            )
        )
