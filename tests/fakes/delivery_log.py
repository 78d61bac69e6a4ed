"""In-memory fakes of delivery_log ports (tests only, never in the Lambda layer)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from nudge.adapters.delivery_log import CLAIM_LEASE_S, JOB_LEVEL, Counters
from nudge.models.push import Delivery


class InMemoryDeliveryLog:
    """The same conditions as DynamoDeliveryLog; counted records add to `counters` (the
    profile store's named counters, when given)."""

    def __init__(self, counters: Any = None) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.counters = counters

    def claim(self, user_id: str, key: str, job_id: str, now: int) -> bool:
        with self._lock:
            row = self.rows.get((user_id, key))
            free = (
                row is None
                or row["status"] == "retry"
                or (row["status"] == "sending" and row["claimed_at"] < now - CLAIM_LEASE_S)
            )
            if free:
                self.rows[(user_id, key)] = {
                    "status": "sending",
                    "claimed_at": now,
                    "job_id": job_id,
                }
            return free

    def release(self, user_id: str, key: str) -> None:
        with self._lock:
            self.rows[(user_id, key)]["status"] = "retry"

    def record(
        self,
        delivery: Delivery,
        key: str,
        expires_at: int,
        counters: Counters | None = None,
        first: tuple[str, Counters] | None = None,
    ) -> bool:
        with self._lock:
            row_key = (delivery.user_id, key)
            row = self.rows.get(row_key)
            if counters is not None or first is not None:
                if key.endswith(JOB_LEVEL):
                    if row is not None:
                        return False
                elif row is None or (row["status"], row.get("job_id"), row["claimed_at"]) != (
                    "sending",
                    delivery.job_id,
                    delivery.at,
                ):
                    return False
            self.rows[row_key] = {
                "status": delivery.outcome,
                "delivery": delivery,
                "claimed_at": delivery.at,
                "job_id": delivery.job_id,
            }
            moved: dict[str, Counter[str]] = {}
            for name, deltas in (counters or {}).items():
                moved.setdefault(name, Counter()).update(deltas)
            if first is not None and (delivery.user_id, first[0]) not in self.rows:
                self.rows[(delivery.user_id, first[0])] = {"status": "marker", "claimed_at": 0}
                for name, deltas in first[1].items():
                    moved.setdefault(name, Counter()).update(deltas)
        self._move(moved)
        return True

    def count_once(self, user_id: str, marker: str, counters: Counters, expires_at: int) -> bool:
        with self._lock:
            if (user_id, marker) in self.rows:
                return False
            self.rows[(user_id, marker)] = {"status": "marker", "claimed_at": 0}
        self._move(counters)
        return True

    def _move(self, counters: Counters) -> None:
        if self.counters is not None and counters:
            with self.counters._lock:
                for name, deltas in counters.items():
                    self.counters.named_counters[name].update(deltas)

    def mark(self, user_id: str, job_id: str, field: str, at: int) -> list[Delivery]:
        marked = []
        with self._lock:
            for (user, _), row in self.rows.items():
                delivery = row.get("delivery")
                if user != user_id or delivery is None or delivery.job_id != job_id:
                    continue
                current = getattr(delivery, field)
                if current is None or current > at:
                    row["delivery"] = delivery.model_copy(update={field: at})
                marked.append(delivery)
        return marked

    def for_user(self, user_id: str) -> list[Delivery]:
        with self._lock:
            return [
                r["delivery"]
                for (u, _), r in sorted(self.rows.items())
                if u == user_id and "delivery" in r
            ]


class FakeFcm:
    """An FCM stand-in for tests: scripted outcomes per token, and a record of what was sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.script: dict[str, list[tuple[str, float | None]]] = {}  # token -> [(code, retry)]
        self._lock = threading.Lock()

    def send(self, messages: Any) -> list[Any]:
        from nudge.adapters.fcm import SendResult

        results = []
        with self._lock:
            for message in messages:
                queued = self.script.get(message["token"], [])
                if queued:
                    code, retry_after = queued.pop(0)
                    results.append(SendResult(False, None, code, retry_after))
                else:
                    self.sent.append(message)
                    results.append(SendResult(True, f"projects/demo/messages/{len(self.sent)}"))
        return results
