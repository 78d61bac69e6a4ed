"""How a user's events are laid out in HistoryTable: one item per user, pass and hour.

A pass (one user's events from one SQS batch, or one request) writes one item for each hour
its events happened in, usually exactly one: `h#<hour>#<digest>`, holding the events with
their ids as compressed JSON (`z`). Twenty events cost one write unit instead of twenty. The
digest is of the ids, so a pass written again (a redelivery after a crash) lands on the same
key.

The history is also the dedupe record: a redelivered event comes back with its timestamp, so
the items of the hours its batch spans are the only ones that can hold it (`hour_range`).

Items written before this layout (`e#<event id>`, one per event) are still read: listed,
paged, exported and erased alike (adapters/history.py `_records`).

Pure Python (no boto3): the adapter (adapters/history.py) and the in-memory fake share it.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from nudge.models.events import IncomingEvent

PREFIX = "h#"
LEGACY_PREFIX = "e#"
HOUR = 3_600
# DynamoDB items hold 400 KB; a pass's events are split before their compressed body nears it
MAX_BODY_BYTES = 300_000


def hour_of(event: IncomingEvent) -> int:
    return int(event.timestamp.timestamp()) // HOUR


def item_key(hour: int, event_ids: Sequence[str]) -> str:
    digest = hashlib.blake2b(" ".join(sorted(event_ids)).encode(), digest_size=8).hexdigest()
    return f"{PREFIX}{hour:08d}#{digest}"


def hour_range(events: Iterable[IncomingEvent]) -> tuple[str, str]:
    """The sort key range whose items can hold these events (a Query's BETWEEN bounds)."""
    hours = [hour_of(event) for event in events]
    return f"{PREFIX}{min(hours):08d}#", f"{PREFIX}{max(hours):08d}#~"


def encode(events: Sequence[IncomingEvent]) -> bytes:
    return _compressed([event.model_dump(mode="json") for event in events])


def _compressed(records: list[dict[str, Any]]) -> bytes:
    return zlib.compress(json.dumps(records, separators=(",", ":")).encode(), 6)


def decode(body: bytes) -> list[dict[str, Any]]:
    """The item's events as GET /v1/me and exports show them."""
    return [{"type": "event", **event} for event in json.loads(zlib.decompress(body))]


def group(events: Sequence[IncomingEvent]) -> list[tuple[str, list[IncomingEvent], bytes]]:
    """The items one pass writes: (sort key, events in time order, compressed body)."""
    by_hour: dict[int, list[IncomingEvent]] = {}
    for event in sorted(events, key=lambda e: (e.timestamp, e.event_id)):
        by_hour.setdefault(hour_of(event), []).append(event)
    items = []
    for hour, in_hour in sorted(by_hour.items()):
        for part in _parts(in_hour):
            items.append((item_key(hour, [e.event_id for e in part]), part, encode(part)))
    return items


def _parts(events: list[IncomingEvent]) -> Iterator[list[IncomingEvent]]:
    """Halves until each part's body fits an item (a pass of huge events, rare)."""
    if len(events) > 1 and len(encode(events)) > MAX_BODY_BYTES:
        middle = len(events) // 2
        yield from _parts(events[:middle])
        yield from _parts(events[middle:])
    else:
        yield events


def without(body: bytes, dropped: set[str]) -> bytes | None:
    """The body with some events taken out (an erasure that raced the write); None if none
    are left."""
    kept = [e for e in json.loads(zlib.decompress(body)) if e["event_id"] not in dropped]
    return _compressed(kept) if kept else None


# ---- pages: a cursor is the last item's key, or '<key>|<n>' inside an item ----
def parse_cursor(after: str | None) -> tuple[str | None, int]:
    if after is None:
        return None, 0
    key, _, consumed = after.partition("|")
    return key, int(consumed) if consumed.isdigit() else 0


def page(
    items: Iterable[tuple[str, list[dict[str, Any]]]], limit: int, after: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Up to `limit` records from `items` ((sort key, records) in key order, starting at the
    cursor's item), and the cursor after them (None when nothing is left)."""
    start, skip = parse_cursor(after)
    rows: list[tuple[str, int, int, dict[str, Any]]] = []  # key, index, item size, record
    for key, records in items:
        if start is not None and key < start:
            continue
        if key == start and not skip:
            continue  # the cursor names a whole item already read
        first = skip if key == start else 0
        rows += [(key, i, len(records), r) for i, r in enumerate(records) if i >= first]
        if len(rows) > limit:
            break
    shown = rows[:limit]
    if len(rows) <= limit or not shown:
        return [r for *_, r in shown], None
    key, index, size, _ = shown[-1]
    return [r for *_, r in shown], key if index + 1 == size else f"{key}|{index + 1}"
