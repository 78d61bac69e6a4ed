"""What every DynamoDB adapter shares: its table, the write meter, a lazily created client,
attribute values from plain Python values (boto3's serializer, imported on first use), paged
reads, and batch calls whose leftovers are retried with jittered exponential backoff."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nudge.adapters import dynamo_codec
from nudge.adapters.aws import client
from nudge.adapters.dynamo_codec import write_units
from nudge.adapters.metering import METER, WriteMeter

BATCH_WRITE_SIZE = 25  # BatchWriteItem's limit
BATCH_GET_SIZE = 100  # BatchGetItem's limit


@dataclass(frozen=True)
class Backoff:
    """Retries of what a batch call left unprocessed: at most `attempts` calls, and before each
    retry a sleep drawn uniformly from [0, min(cap, base * 2**retry)] ("full jitter")."""

    attempts: int = 8
    base_s: float = 0.05
    cap_s: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    random: Callable[[], float] = field(default=random.random, compare=False)

    def delay(self, retry: int) -> float:
        return self.random() * min(self.cap_s, self.base_s * 2**retry)


class DynamoTable:
    def __init__(
        self,
        table: str,
        meter: WriteMeter = METER,
        ddb: Any = None,
        *,
        backoff: Backoff | None = None,
    ) -> None:
        self.table = table
        self.meter = meter
        self._ddb = ddb
        self.backoff = backoff or Backoff()

    @property
    def ddb(self) -> Any:
        if self._ddb is None:
            self._ddb = client("dynamodb")
        return self._ddb

    # ---- attribute values ----
    @staticmethod
    def key(**values: Any) -> dict[str, Any]:
        """A key (or any item) from plain values: key(pk="a", sk="b")."""
        return dynamo_codec.to_item(values)

    @staticmethod
    def to_item(mapping: Mapping[str, Any]) -> dict[str, Any]:
        """An item from plain values (str, int, float, bool, bytes, dict, list, set); None
        values are left out."""
        return dynamo_codec.to_item(mapping)

    @staticmethod
    def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
        """Plain values from an item: numbers as int (float when not integral), B as bytes."""
        return dynamo_codec.from_item(item)

    @staticmethod
    def values(**named: Any) -> dict[str, Any]:
        """ExpressionAttributeValues: values(rev=3) is {":rev": {"N": "3"}}."""
        return dynamo_codec.to_item({f":{name}": value for name, value in named.items()})

    # ---- writes ----
    def put_if(self, item: dict[str, Any], index_units: int = 0, **condition: Any) -> bool:
        """A conditional put: False (nothing written) when the condition does not hold."""
        try:
            self.ddb.put_item(TableName=self.table, Item=item, **condition)
        except Exception as error:
            if condition_failed(error):
                return False
            raise
        self.meter.add(write_units(item), index_units)
        return True

    def batch_write(self, requests: Sequence[dict[str, Any]]) -> None:
        """BatchWriteItem 25 at a time, retrying what DynamoDB leaves unprocessed (backoff)."""
        for start in range(0, len(requests), BATCH_WRITE_SIZE):
            chunk = {self.table: list(requests[start : start + BATCH_WRITE_SIZE])}
            self._until_processed(
                lambda pending: self.ddb.batch_write_item(RequestItems=pending),
                chunk,
                "UnprocessedItems",
                "writes",
            )

    # ---- reads ----
    def batch_get(
        self,
        keys: Sequence[dict[str, Any]],
        consistent: bool = False,
        projection: str | None = None,
    ) -> list[dict[str, Any]]:
        """The items found for `keys` (unique), 100 per BatchGetItem, in no particular order;
        what DynamoDB leaves unprocessed is retried (backoff)."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(keys), BATCH_GET_SIZE):
            request: dict[str, Any] = {"Keys": list(keys[start : start + BATCH_GET_SIZE])}
            if consistent:
                request["ConsistentRead"] = True
            if projection:
                request["ProjectionExpression"] = projection

            def call(pending: dict[str, Any]) -> dict[str, Any]:
                response: dict[str, Any] = self.ddb.batch_get_item(RequestItems=pending)
                found.extend(response.get("Responses", {}).get(self.table, []))
                return response

            self._until_processed(call, {self.table: request}, "UnprocessedKeys", "reads")
        return found

    def pages(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every page of a Query or Scan (boto3's paginator follows LastEvaluatedKey)."""
        kwargs.setdefault("TableName", self.table)
        return iter(self.ddb.get_paginator(operation).paginate(**kwargs))

    def items(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every item of a Query or Scan, page after page."""
        for page in self.pages(operation, **kwargs):
            yield from page.get("Items", [])

    # ---- retries ----
    def _until_processed(
        self,
        call: Callable[[dict[str, Any]], dict[str, Any]],
        request: dict[str, Any],
        leftover_key: str,
        what: str,
    ) -> None:
        """Call, then call again with what the answer left unprocessed, sleeping a jittered,
        exponentially growing while in between; raise after the last attempt."""
        pending = request
        for attempt in range(self.backoff.attempts):
            if attempt:
                self.backoff.sleep(self.backoff.delay(attempt - 1))
            pending = call(pending).get(leftover_key) or {}
            if not pending:
                return
        left = pending.get(self.table, [])
        count = len(left["Keys"]) if isinstance(left, dict) else len(left)
        raise RuntimeError(
            f"DynamoDB left {count} {what} unprocessed after {self.backoff.attempts} attempts"
        )


def versioned(key_attribute: str, previous_version: int | None) -> dict[str, Any]:
    """Optimistic concurrency: create only if absent, else only if the version read is current."""
    if previous_version is None:
        return {"ConditionExpression": f"attribute_not_exists({key_attribute})"}
    return {
        "ConditionExpression": "v = :expected",
        "ExpressionAttributeValues": DynamoTable.values(expected=previous_version),
    }


def error_code(error: Exception) -> str | None:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code if isinstance(code, str) else None


def condition_failed(error: Exception) -> bool:
    return error_code(error) == "ConditionalCheckFailedException"
