"""The per-user request counters of the rate limit, in the profiles table.

One item per (scope, user), not per window, under a system key (`#rate#<scope>#<user>`: never a
user id, and the only keys the API functions' IAM grant lets them write there): the window it
counts, the count, and a TTL every write refreshes. Counting is one conditional UpdateItem (ADD
1 if the item counts this window and is under the limit, or does not exist yet). A refused one
returns the item as it was (ReturnValuesOnConditionCheckFailure), so a full window is refused
without a second call; only a new window costs a second write (the count SET to 1, if the item
still counts an older window: an older window never resets a newer one). Erasure deletes the
one item of each scope by key, so no expired counter waits for the TTL sweep with a user id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nudge.adapters.dynamo_codec import write_units
from nudge.adapters.dynamo_table import DynamoTable, condition_failed
from nudge.models.keys import SYSTEM_PREFIX

RATE_PREFIX = f"{SYSTEM_PREFIX}rate#"
NAMES = {"#w": "window", "#n": "requests", "#t": "expires_at"}
COUNT = "SET #w = :w, #t = :expires ADD #n :one"
COUNT_IF = "attribute_not_exists(#w) OR (#w = :w AND #n < :limit)"
OPEN = "SET #w = :w, #n = :one, #t = :expires"
OPEN_IF = "attribute_not_exists(#w) OR #w < :w"
# A lost race (another request opened the window first) costs one more try; a third is only
# for a clock behind that found a newer window.
ATTEMPTS = 3


def counter_key(scope: str, user_id: str) -> str:
    return f"{RATE_PREFIX}{scope}#{user_id}"


class DynamoRequestCounter(DynamoTable):
    def take(self, scope: str, user_id: str, window: int, limit: int, expires_at: int) -> bool:
        key = self.key(user_id=counter_key(scope, user_id))
        for _ in range(ATTEMPTS):
            old = self._update(
                key, COUNT, COUNT_IF, w=window, expires=expires_at, one=1, limit=limit
            )
            if old is None:
                return True
            counting = int(self.from_item(old)["window"])  # it exists: the condition says so
            if counting == window:
                return False  # full
            if counting > window:
                window = counting  # this container's clock is behind: count in the newer one
                continue
            if self._update(key, OPEN, OPEN_IF, w=window, expires=expires_at, one=1) is None:
                return True
            # another request opened this window (or a newer one) first: count again
        return False

    def _update(self, key: dict[str, Any], update: str, condition: str, **values: Any) -> Any:
        """One conditional UpdateItem: None when written, else the item as it was."""
        # a refused conditional write is billed like a done one
        self.meter.add(
            write_units({**key, **self.to_item({"window": 0, "requests": 0, "expires_at": 0})})
        )
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=NAMES,
                ExpressionAttributeValues=self.values(**values),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            if condition_failed(error):
                return getattr(error, "response", {}).get("Item", {})
            raise
        return None

    def forget(self, user_id: str, scopes: Sequence[str]) -> None:
        keys = [self.key(user_id=counter_key(scope, user_id)) for scope in scopes]
        self.batch_write([{"DeleteRequest": {"Key": key}} for key in keys])
