"""DynamoDB adapter for profiles (with the due-time index) and their sharded counters.

The event history is in adapters/history.py."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from nudge.adapters.breakdown import cell_updates
from nudge.adapters.dynamo_codec import item_to_profile, profile_to_item, write_units
from nudge.adapters.dynamo_table import DynamoTable, condition_failed, error_code, versioned
from nudge.domain.engagement.breakdown import PREFIX as CELLS_PREFIX
from nudge.models.keys import SYSTEM_PREFIX
from nudge.models.profile import Profile
from nudge.models.stats import STATS_SHARDS, LifecycleCounts, StageChange

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
