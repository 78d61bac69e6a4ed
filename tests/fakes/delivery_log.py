"""In-memory fakes of delivery_log ports (tests only, never in the Lambda layer)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from nudge.adapters.delivery_log import CLAIM_LEASE_S, JOB_LEVEL, Counters
from nudge.models.push import Delivery, Leftovers


class InMemoryDeliveryLog:
    """The same conditions as DynamoDeliveryLog; counted records add to `counters` (the
    profile store's named counters, when given). `fail_counts`: that many of the next counts
    (the second write of a counted record) raise, as a denied or throttled write would."""

    def __init__(self, counters: Any = None) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.counters = counters
        self.fail_counts = 0

    def claim(self, user_id: str, key: str, job_id: str, now: int) -> bool:
        with self._lock:
            row = self.rows.get((user_id, key))
            free = row is None or row["status"] == "retry"  # never a stale `sending` claim
            if free:
                self.rows[(user_id, key)] = {
                    "status": "sending",
                    "claimed_at": now,
                    "job_id": job_id,
                }
            return free

    def release(self, user_id: str, key: str) -> None:
        with self._lock:  # conditional on a live claim, as the adapter's UpdateItem
            row = self.rows.get((user_id, key))
            if row is not None and row.get("status") == "sending":
                row["status"] = "retry"

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
            if counters is None and first is None:
                return True
            # the outcome is written; what it counts is pending until the second write
            self.rows[row_key]["pending"] = (counters or {}, first)
        return self._count(delivery.user_id, key)

    def _count(self, user_id: str, key: str) -> bool:
        with self._lock:
            row = self.rows[(user_id, key)]
            if "pending" not in row:
                return False  # counted before
            if self.fail_counts:
                self.fail_counts -= 1
                raise RuntimeError("AccessDeniedException: the count was refused")
            counters, first = row.pop("pending")
            moved: dict[str, Counter[str]] = {}
            for name, deltas in counters.items():
                moved.setdefault(name, Counter()).update(deltas)
            if first is not None and (user_id, first[0]) not in self.rows:
                self.rows[(user_id, first[0])] = {"status": "marker", "claimed_at": 0}
                for name, deltas in first[1].items():
                    moved.setdefault(name, Counter()).update(deltas)
        self._move(moved)
        return True

    def leftovers(self, unknown: Delivery, expires_at: int, now: int) -> Leftovers:
        prefix = f"{unknown.dedupe_key}#"
        with self._lock:
            rows = [
                (key, row)
                for (user, key), row in sorted(self.rows.items())
                if user == unknown.user_id
                and key.startswith(prefix)
                and row.get("job_id") == unknown.job_id
            ]
        result = Leftovers()
        for key, row in rows:
            if "pending" in row:
                if self._count(unknown.user_id, key):
                    result.settled.append(row["delivery"])
            elif row["status"] == "sending":
                claimed_at = row["claimed_at"]
                if claimed_at >= now - CLAIM_LEASE_S:
                    end = claimed_at + CLAIM_LEASE_S
                    busy = result.busy_until
                    result = Leftovers(result.settled, end if busy is None else max(busy, end))
                    continue
                record = unknown.model_copy(
                    update={"device_id": key[len(prefix) :], "at": claimed_at}
                )
                with self._lock:
                    current = self.rows.get((unknown.user_id, key))
                    if current is not row or row["status"] != "sending":
                        continue
                    self.rows[(unknown.user_id, key)] = {
                        "status": "unknown",
                        "delivery": record,
                        "claimed_at": claimed_at,
                        "job_id": unknown.job_id,
                    }
                result.settled.append(record)
        return result

    def count_once(self, user_id: str, marker: str, counters: Counters, expires_at: int) -> bool:
        with self._lock:
            if (user_id, marker) in self.rows:
                return False
            self.rows[(user_id, marker)] = {"status": "marker", "claimed_at": 0}
        self._move(counters)
        return True

    def _move(self, counters: Counters) -> None:
        if self.counters is not None and counters:
            self.counters.add_counters(counters)

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

    def delete_user(self, user_id: str) -> int:
        with self._lock:
            mine = [key for key in self.rows if key[0] == user_id]
            for key in mine:
                del self.rows[key]
            return len(mine)


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
