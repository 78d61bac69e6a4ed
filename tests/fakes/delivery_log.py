"""In-memory fakes of delivery_log ports (tests only, never in the Lambda layer)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

from nudge.adapters.delivery_log import CLAIM_LEASE_S, JOB_SK, Counters
from nudge.adapters.delivery_records import OUTCOME_OF, old_device_key
from nudge.domain.messaging.job_record import (
    BatchState,
    JobClaim,
    JobRecord,
    plan_claim,
    plan_outcomes,
    summary_status,
)
from nudge.models.push import Delivery, Leftovers


class InMemoryDeliveryLog:
    """The same conditions as DynamoDeliveryLog; counted records add to `counters` (the
    profile store's named counters, when given). `fail_counts`: that many of the next counts
    (the second write of a counted job-level record) raise, as a denied or throttled write
    would; `fail_commits`, `fail_outcomes`: that many of the next batch commits or failure
    writes of job records."""

    def __init__(self, counters: Any = None) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.counters = counters
        self.fail_counts = 0
        self.fail_commits = 0
        self.fail_outcomes = 0
        self.batches: dict[str, str] = {}  # batch id -> committed | abandoned

    # ---- job records: the adapter's plan (nudge.domain.messaging.job_record), kept in rows
    def claim_job(
        self, body: Delivery, devices: list[str], batch: str, now: int, expires_at: int
    ) -> JobClaim:
        key = (body.user_id, f"{body.dedupe_key}#{JOB_SK}")
        prefix = f"{body.dedupe_key}#"
        while True:
            with self._lock:
                row = self.rows.get(key)
                current = row["job"] if row else None
                taken = {
                    k[len(prefix) :]
                    for (u, k), r in self.rows.items()
                    if u == body.user_id
                    and k.startswith(prefix)
                    and old_device_key(k[len(prefix) :])
                    and r["status"] != "retry"
                }
                counted_before = (body.user_id, f"{prefix}=delivered") in self.rows
                made_by = row["job_id"] if row else None
            plan = plan_claim(
                current,
                devices,
                taken,
                batch,
                now,
                self.batch_state,
                self._abandon,
                counted_before,
                None if made_by in (None, body.job_id) else body.job_id,
            )
            if plan.record is not None and not self._write_job(body, plan.record, current):
                continue
            return JobClaim(
                body.user_id,
                body.dedupe_key,
                batch,
                plan.record or current or JobRecord({}),
                plan.claimed,
                plan.settled,
                plan.owed,
                plan.busy_until,
                plan.count_batch,
            )

    def record_outcomes(
        self,
        claim: JobClaim,
        body: Delivery,
        outcomes: dict[str, tuple[str, str | None]],
        counts: bool,
        expires_at: int,
    ) -> list[str]:
        if self.fail_outcomes:
            self.fail_outcomes -= 1
            raise RuntimeError("ProvisionedThroughputExceededException")
        current = claim.record
        while True:
            updated, recorded = plan_outcomes(current, claim.batch, outcomes, counts)
            if updated is None or self._write_job(body, updated, current):
                return recorded
            with self._lock:
                current = self.rows[(claim.user_id, f"{claim.dedupe_key}#{JOB_SK}")]["job"]

    def commit_batch(self, batch: str, counters: Counters, expires_at: int) -> None:
        with self._lock:
            if self.fail_commits:
                self.fail_commits -= 1
                raise RuntimeError("AccessDeniedException: the batch's write was refused")
            if batch in self.batches:
                raise RuntimeError(f"batch {batch} was abandoned before it committed")
            self.batches[batch] = "committed"
        self._move(counters)

    def batch_state(self, batch: str) -> BatchState:
        with self._lock:
            state = self.batches.get(batch)
        return "committed" if state == "committed" else "abandoned" if state else None

    def _abandon(self, batch: str) -> BatchState:
        with self._lock:
            self.batches.setdefault(batch, "abandoned")
        return self.batch_state(batch)

    def _write_job(self, body: Delivery, record: JobRecord, current: JobRecord | None) -> bool:
        key = (body.user_id, f"{body.dedupe_key}#{JOB_SK}")
        with self._lock:
            row = self.rows.get(key)
            if (row["job"] if row else None) != current:
                return False
            marks = row["body"] if row else body
            self.rows[key] = {
                "status": summary_status(record.devices),
                "job": record,
                "body": marks,
                "job_id": row["job_id"] if row else body.job_id,
                "claimed_at": 0,
            }
            return True

    def record(
        self, delivery: Delivery, key: str, expires_at: int, counters: Counters | None = None
    ) -> bool:
        with self._lock:
            row_key = (delivery.user_id, key)
            if counters is not None and row_key in self.rows:
                return False  # recorded (and counted) before
            self.rows[row_key] = {
                "status": delivery.outcome,
                "delivery": delivery,
                "claimed_at": delivery.at,
                "job_id": delivery.job_id,
            }
            if counters is None:
                return True
            # the outcome is written; what it counts is pending until the second write
            self.rows[row_key]["pending"] = (counters, None)
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
                slot = "delivery" if "delivery" in row else "body"
                delivery = row.get(slot)
                if user != user_id or delivery is None or delivery.job_id != job_id:
                    continue
                current = getattr(delivery, field)
                if current is None or current > at:
                    row[slot] = delivery.model_copy(update={field: at})
                marked += _deliveries(row | {slot: delivery})
        return marked

    def for_user(self, user_id: str) -> list[Delivery]:
        with self._lock:
            return [
                d for (u, _), r in sorted(self.rows.items()) if u == user_id for d in _deliveries(r)
            ]

    def delete_user(self, user_id: str) -> int:
        with self._lock:
            mine = [key for key in self.rows if key[0] == user_id]
            for key in mine:
                del self.rows[key]
            return len(mine)


def _deliveries(row: dict[str, Any]) -> list[Delivery]:
    """A row's records, as the adapter reads its items: a job record, one per device."""
    if "delivery" in row:
        return [row["delivery"]]
    if "job" not in row:
        return []
    body: Delivery = row["body"]
    return [
        body.model_copy(
            update={"device_id": d, "outcome": OUTCOME_OF[c.status], "reason": c.reason, "at": c.at}
            | {"job_id": c.job or body.job_id}
        )
        for d, c in sorted(row["job"].devices.items())
        if c.status in OUTCOME_OF
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
