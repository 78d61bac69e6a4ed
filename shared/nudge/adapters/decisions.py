"""Campaign decision records as HistoryTable items: one item per pass that recorded any
(`d#<at>#<writer>`: p for the event processor, s for the scheduler), holding that pass's
records, in the user's partition (so erasure and GET /v1/me cover them), with its own
`expires_at`. One item per pass, not per record: a pass deciding for ten campaigns costs one
write, and a pack of records stays well under 1 KB.

The key holds no occurrence: a pass rebuilt after a crash (see
services/pipeline/processing.py) lands on the same key as the one it stands for."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from nudge.adapters.dynamo_table import DynamoTable
from nudge.domain.engagement.decision_record import DecisionRecord

PREFIX = "d#"


def pack_key(at: int, writer: str) -> str:
    return f"{PREFIX}{at:011d}#{writer}"


def pack_body(records: Sequence[DecisionRecord]) -> list[dict[str, Any]]:
    """The records as stored: empty fields left out, the pass's moment once (in the key)."""
    return [
        {k: v for k, v in record.as_dict().items() if v not in (None, "") and k != "at"}
        for record in records
    ]


def packs(records: Sequence[DecisionRecord]) -> dict[int, list[DecisionRecord]]:
    """Records by the moment of their pass (a rebuilt pass may bring back several)."""
    by_moment: dict[int, list[DecisionRecord]] = {}
    for record in records:
        by_moment.setdefault(record.at, []).append(record)
    return by_moment


def pack_items(
    user_id: str, records: Sequence[DecisionRecord], expires_at: int, writer: str
) -> list[dict[str, Any]]:
    return [
        DynamoTable.to_item(
            {
                "user_id": user_id,
                "sk": pack_key(at, writer),
                "body": json.dumps(pack_body(pack), separators=(",", ":")),
                "expires_at": expires_at,
            }
        )
        for at, pack in packs(records).items()
    ]


def at_of(sk: str) -> int:
    return int(sk[len(PREFIX) :].partition("#")[0])


def records_of(sk: str, body: list[dict[str, Any]]) -> list[DecisionRecord]:
    at = at_of(sk)
    return [DecisionRecord.of({**record, "at": at}) for record in body]


def decisions_of(item: dict[str, Any]) -> list[DecisionRecord]:
    return records_of(item["sk"]["S"], json.loads(item["body"]["S"]))
