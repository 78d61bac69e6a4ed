"""What every DynamoDB adapter shares: its table, the write meter, a lazily created client."""

from __future__ import annotations

from typing import Any

from nudge.adapters.aws import client
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


def error_code(error: Exception) -> str | None:
    code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code if isinstance(code, str) else None


def condition_failed(error: Exception) -> bool:
    return error_code(error) == "ConditionalCheckFailedException"
