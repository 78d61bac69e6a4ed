"""In-memory fake of the FatigueLedger port (tests only, never in the Lambda layer)."""

from __future__ import annotations

import threading
from typing import Any

from nudge.adapters.fatigue import LEDGER_SK
from nudge.domain.config import CategoryCaps
from nudge.domain.messaging.fatigue import book
from nudge.models.fatigue import Booking, Interruption
from tests.fakes.delivery_log import InMemoryDeliveryLog


class InMemoryFatigueLedger:
    """The same decision as DynamoFatigueLedger, one row per user. Given the fake delivery
    log, the row lives among its rows under the same key as the adapter's item, so the log's
    `delete_user` (erasure) takes it too. `booked` counts the bookings made, for tests."""

    def __init__(self, log: InMemoryDeliveryLog | None = None) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = log.rows if log is not None else {}
        self._lock = log._lock if log is not None else threading.Lock()
        self.booked = 0

    def interruptions(self, user_id: str) -> list[Interruption]:
        with self._lock:
            row = self.rows.get((user_id, LEDGER_SK))
            return list(row["entries"]) if row else []

    def book(
        self,
        user_id: str,
        interruption: Interruption,
        caps: CategoryCaps,
        zone: str | None,
        now: int,
    ) -> Booking:
        with self._lock:  # the conditional write: nobody books in between
            row = self.rows.get((user_id, LEDGER_SK))
            booking, kept = book(row["entries"] if row else [], interruption, caps, now, zone)
            if booking.status == "booked":
                # status/claimed_at: what the fake delivery log's readers expect of a row
                self.rows[(user_id, LEDGER_SK)] = {
                    "status": "fatigue",
                    "claimed_at": 0,
                    "entries": kept,
                }
                self.booked += 1
            return booking
