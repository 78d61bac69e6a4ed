"""What every DynamoDB adapter shares: its table, the write meter, a lazily created client."""

from __future__ import annotations

from typing import Any

from nudge.adapters.aws import client
from nudge.adapters.dynamo_codec import write_units
from nudge.adapters.metering import METER, WriteMeter


class DynamoTable:
    def __init__(self, table: str, meter: WriteMeter = METER, ddb: Any = None) -> None:
        self.table = table
        self.meter = meter
        self._ddb = ddb

    @property
    def ddb(self) -> Any:
        if self._ddb is None:
            self._ddb = client("dynamodb")
        return self._ddb

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

    def batch_write(self, requests: list[dict[str, Any]]) -> None:
        """BatchWriteItem 25 at a time, retrying what DynamoDB leaves unprocessed (bounded)."""
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table: requests[start : start + 25]}
            for _attempt in range(8):
                pending = self.ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems")
                if not pending:
                    break
            if pending:
                raise RuntimeError(f"DynamoDB left {len(pending[self.table])} writes unprocessed")


def versioned(key_attribute: str, previous_version: int | None) -> dict[str, Any]:
    """Optimistic concurrency: create only if absent, else only if the version read is current."""
    if previous_version is None:
        return {"ConditionExpression": f"attribute_not_exists({key_attribute})"}
    return {
        "ConditionExpression": "v = :expected",
        "ExpressionAttributeValues": {":expected": {"N": str(previous_version)}},
    }


def error_code(error: Exception) -> str | None:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code if isinstance(code, str) else None


def condition_failed(error: Exception) -> bool:
    return error_code(error) == "ConditionalCheckFailedException"
