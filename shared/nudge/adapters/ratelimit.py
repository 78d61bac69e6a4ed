"""The per-user request counters of the rate limit, in the profiles table.

One item per (scope, user), not per window, under a system key (`#rate#<scope>#<user>`: never a
user id, and the only keys the API functions' IAM grant lets them write there), holding one
count per window it has seen lately (`n<window>`) and a TTL every write refreshes. Counting is
one conditional UpdateItem, a new window included: ADD 1 to this window's count if it is under
the limit (or not there yet) and no newer window has begun, and remove the window before. A
refused one returns the item as it was (ReturnValuesOnConditionCheckFailure): a full window is
refused without a second call, and a request stamped with the window before the counter's (a
container whose clock is a moment behind) is counted again in that newer window: an older
window never resets a newer one. Windows left behind by a pause are removed once there are a
few of them (a rare second write). Erasure deletes the one item of each scope by key, so no
expired counter waits for the TTL sweep with a user id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nudge.adapters.dynamo_codec import write_units
from nudge.adapters.dynamo_table import DynamoTable, condition_failed
from nudge.models.keys import SYSTEM_PREFIX

RATE_PREFIX = f"{SYSTEM_PREFIX}rate#"
COUNT = "SET #t = :expires ADD #n :one REMOVE #p"
COUNT_IF = "attribute_not_exists(#x) AND (attribute_not_exists(#n) OR #n < :limit)"
# a third try is only for a clock behind that found a newer window twice
ATTEMPTS = 3
STALE_KEPT = 6  # windows left behind (pauses) before they are removed


def counter_key(scope: str, user_id: str) -> str:
    return f"{RATE_PREFIX}{scope}#{user_id}"


def _windows(item: dict[str, Any]) -> dict[int, int]:
    """The counts the item holds, by window."""
    return {
        int(name[1:]): int(value["N"])
        for name, value in item.items()
        if name[:1] == "n" and name[1:].isdigit()
    }


class DynamoRequestCounter(DynamoTable):
    def take(self, scope: str, user_id: str, window: int, limit: int, expires_at: int) -> bool:
        key = self.key(user_id=counter_key(scope, user_id))
        for _ in range(ATTEMPTS):
            counted, item = self._count(key, window, limit, expires_at)
            windows = _windows(item)
            if counted:
                stale = [w for w in windows if w < window - 1]
                if len(stale) > STALE_KEPT:
                    self._forget_windows(key, stale)
                return True
            newer = max(windows, default=window)
            if newer <= window:
                return False  # full
            window = newer  # this container's clock is behind: count in the newer one
        return False

    def _count(
        self, key: dict[str, Any], window: int, limit: int, expires_at: int
    ) -> tuple[bool, dict[str, Any]]:
        """One conditional UpdateItem: (counted, the item after it, or as it was if not)."""
        # a refused conditional write is billed like a done one
        self.meter.add(write_units({**key, **self.to_item({"n0": 0, "expires_at": 0})}))
        try:
            response = self.ddb.update_item(
                TableName=self.table,
                Key=key,
                UpdateExpression=COUNT,
                ConditionExpression=COUNT_IF,
                ExpressionAttributeNames={
                    "#n": f"n{window}",
                    "#p": f"n{window - 1}",
                    "#x": f"n{window + 1}",
                    "#t": "expires_at",
                },
                ExpressionAttributeValues=self.values(expires=expires_at, one=1, limit=limit),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as error:
            if condition_failed(error):
                return False, getattr(error, "response", {}).get("Item", {})
            raise
        return True, response.get("Attributes", {})

    def _forget_windows(self, key: dict[str, Any], windows: Sequence[int]) -> None:
        names = {f"#w{i}": f"n{w}" for i, w in enumerate(windows)}
        self.ddb.update_item(
            TableName=self.table,
            Key=key,
            UpdateExpression="REMOVE " + ", ".join(names),
            ExpressionAttributeNames=names,
        )
        self.meter.add(1)

    def forget(self, user_id: str, scopes: Sequence[str]) -> None:
        keys = [self.key(user_id=counter_key(scope, user_id)) for scope in scopes]
        self.batch_write([{"DeleteRequest": {"Key": key}} for key in keys])
