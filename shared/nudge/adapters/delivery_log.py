"""The delivery log: per user, a job's record (every device's claim and outcome, one item),
job-level records (no device), once-markers, and per SQS batch a marker; with TTL.

At most one send per dedupe key and device, whatever fails: `claim_job` is the one write of
a send (see nudge.domain.messaging.job_record: a claim FCM accepts stays `sending`, read as
sent; the batch's marker, written with the counters its jobs moved, says so; a claim whose
batch never committed is recorded `unknown` past its lease, never sent again). Job-level
records keep the older two steps: the outcome, carrying the counters still to move
(`pending`), then a transaction that moves them (a retried count still counts once).
Per-device items of the older layout (`<dedupe key>#<device>`) are still read, and their
devices are never claimed again; `leftovers` settles what such an item left in flight.

No secondary index (issue 23): one by job id would write an entry for every item written, as
many write units again as the pushes themselves. A job is found in its user's partition
(`for_job`, `mark`): the user is known to the event processor, named by the admin caller or
by the job id itself (nudge.domain.messaging.job_ids).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from nudge.adapters.delivery_records import delivery_of, old_device_key, records_of
from nudge.adapters.dynamo_codec import write_units
from nudge.adapters.dynamo_table import DynamoTable, condition_failed, error_code
from nudge.adapters.metering import METER, WriteMeter
from nudge.domain.messaging.job_record import (
    LEASE_S,
    BatchState,
    JobClaim,
    JobRecord,
    decode_devices,
    encode_devices,
    plan_claim,
    plan_outcomes,
    summary_status,
)
from nudge.models.push import Delivery, Leftovers

CLAIM_LEASE_S = LEASE_S  # a claim still `sending` after this: its result is unknown (never resent)
JOB_SK = "=job"  # the key suffix of a job's record of its devices: '<dedupe key>#=job'
DELIVERED_SK = "=delivered"  # the old layout's marker: the job's delivered was counted
BATCH_PREFIX, BATCH_SK = "#batch#", "#batch"  # a batch's marker: pk '#batch#<id>'
MAX_CLAIM_ATTEMPTS = 5

Counters = Mapping[str, Mapping[str, int]]


def _cancel_reasons(error: Exception) -> list[str | None] | None:
    """Per item codes of a cancelled transaction; None for any other error."""
    if error_code(error) != "TransactionCanceledException":
        return None
    reasons = getattr(error, "response", {}).get("CancellationReasons") or []
    return [reason.get("Code") for reason in reasons]


class DynamoDeliveryLog(DynamoTable):
    """pk user_id, sk '<dedupe key>#=job' (a job's record; see the module for the others).

    `counters_table`: the profiles table, whose campaign day counters move with counted
    records (see `record`); only push_sender passes it.
    """

    def __init__(
        self,
        table: str,
        meter: WriteMeter = METER,
        ddb: Any = None,
        counters_table: str | None = None,
    ) -> None:
        super().__init__(table, meter, ddb)
        self.counters_table = counters_table

    # ---- a job's record: one item per user and dedupe key (nudge.domain.messaging.job_record)
    def claim_job(
        self, body: Delivery, devices: list[str], batch: str, now: int, expires_at: int
    ) -> JobClaim:
        """Settle what earlier attempts left and claim the free `devices` for `batch`, in one
        write (none when nothing changed); `body`: the job's fields as every device's record
        has them. A write that loses a race reads again (consistently) and plans again."""
        user_id, dedupe_key = body.user_id, body.dedupe_key
        for attempt in range(MAX_CLAIM_ATTEMPTS):
            current, taken, counted_before, made_by = self._read_job(
                user_id, dedupe_key, attempt > 0
            )
            plan = plan_claim(
                current,
                devices,
                taken,
                batch,
                now,
                self.batch_state,
                lambda of: self._abandon(of, expires_at),
                counted_before,
                None if made_by in (None, body.job_id) else body.job_id,
            )
            record = plan.record or current
            if plan.record is not None and not self._write_job(
                body, plan.record, current, expires_at
            ):
                continue  # another attempt wrote first
            assert record is not None or not plan.claimed
            return JobClaim(
                user_id,
                dedupe_key,
                batch,
                record or JobRecord({}),
                plan.claimed,
                plan.settled,
                plan.owed,
                plan.busy_until,
                plan.count_batch,
            )
        raise RuntimeError(f"the record of {dedupe_key!r} kept changing: try again later")

    def record_outcomes(
        self,
        claim: JobClaim,
        body: Delivery,
        outcomes: dict[str, tuple[str, str | None]],
        counts: bool,
        expires_at: int,
    ) -> list[str]:
        """The devices FCM did not accept (device -> ('failed' | 'retry', code)), in one write
        (none when every device was accepted and nothing else changes); the devices recorded."""
        current = claim.record
        for _ in range(MAX_CLAIM_ATTEMPTS):
            updated, recorded = plan_outcomes(current, claim.batch, outcomes, counts)
            if updated is None or self._write_job(body, updated, current, expires_at):
                return recorded
            found = self._read_job(claim.user_id, claim.dedupe_key, True)[0]
            assert found is not None, "a claimed record is never deleted but by erasure"
            current = found
        raise RuntimeError(f"the record of {claim.dedupe_key!r} kept changing")

    def commit_batch(self, batch: str, counters: Counters, expires_at: int) -> None:
        """The batch's marker (its claims still `sending` were accepted) with every counter
        its jobs moved, summed, in one write; raises if a redelivery abandoned it first."""
        item = self.to_item(
            {"user_id": f"{BATCH_PREFIX}{batch}", "sk": BATCH_SK, "state": "committed"}
            | {"expires_at": expires_at}
        )
        condition = "attribute_not_exists(user_id)"
        if not any(any(deltas.values()) for deltas in counters.values()):
            if not self.put_if(item, ConditionExpression=condition):
                raise RuntimeError(f"batch {batch} was abandoned before it committed")
            return
        assert self.counters_table is not None, "counted batches need the counters table"
        from nudge.adapters.dynamodb import _named_counter_updates

        # any shard of a counter does (readers sum them): the batch's own, by its id
        updates = _named_counter_updates(self.counters_table, batch, counters)
        put = {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": condition}}
        try:
            self.ddb.transact_write_items(
                TransactItems=[put, *updates], ClientRequestToken=uuid.uuid4().hex
            )
        except Exception as error:
            reasons = _cancel_reasons(error)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise RuntimeError(f"batch {batch} was abandoned before it committed") from error
            raise
        self.meter.add(2 * (1 + len(updates)))

    def batch_state(self, batch: str) -> BatchState:
        response = self.ddb.get_item(
            TableName=self.table,
            Key=self.key(user_id=f"{BATCH_PREFIX}{batch}", sk=BATCH_SK),
            ConsistentRead=True,
        )
        state = response.get("Item", {}).get("state", {}).get("S")
        return "committed" if state == "committed" else "abandoned" if state else None

    def _abandon(self, batch: str, expires_at: int) -> BatchState:
        item = self.to_item(
            {"user_id": f"{BATCH_PREFIX}{batch}", "sk": BATCH_SK, "state": "abandoned"}
            | {"expires_at": expires_at}
        )
        if self.put_if(item, ConditionExpression="attribute_not_exists(user_id)"):
            return "abandoned"
        return self.batch_state(batch)  # committed (or abandoned) meanwhile

    def _read_job(
        self, user_id: str, dedupe_key: str, consistent: bool
    ) -> tuple[JobRecord | None, set[str], bool, str | None]:
        """The job record; the devices per-device items of the old layout hold (not
        claimable); whether the old layout counted the job's delivered; the job that made
        the record."""
        prefix = f"{dedupe_key}#"
        record, taken, counted_before, made_by = None, set(), False, None
        for item in self.items(
            "query",
            KeyConditionExpression="user_id = :u AND begins_with(sk, :p)",
            ExpressionAttributeValues=self.values(u=user_id, p=prefix),
            ConsistentRead=consistent,
        ):
            rest = item["sk"]["S"][len(prefix) :]
            if rest == JOB_SK:
                count_batch = item.get("cb", {}).get("S")
                devices = decode_devices(item["d"]["S"])
                record = JobRecord(devices, count_batch, int(item["v"]["N"]))
                made_by = item["job_id"]["S"]
            elif rest == DELIVERED_SK:
                counted_before = True
            elif old_device_key(rest) and item.get("status", {}).get("S") != "retry":
                taken.add(rest)
        return record, taken, counted_before, made_by

    def _write_job(
        self, body: Delivery, record: JobRecord, current: JobRecord | None, expires_at: int
    ) -> bool:
        """Create the record, or update it if it is still at the version read."""
        fields: dict[str, Any] = {
            "user_id": body.user_id,
            "sk": f"{body.dedupe_key}#{JOB_SK}",
            "job_id": body.job_id,
            "status": summary_status(record.devices),
            "body": body.model_dump_json(exclude_none=True, exclude={"outcome"}),
            "d": encode_devices(record.devices),
            "v": record.version,
            "cb": record.count_batch,
            "expires_at": expires_at,
        }
        item = self.to_item(fields)
        if current is None:
            return self.put_if(item, ConditionExpression="attribute_not_exists(sk)")
        expression = "SET d = :d, v = :v, #s = :s" + (
            ", cb = :cb" if record.count_batch else " REMOVE cb"
        )
        values = self.values(d=item["d"]["S"], v=record.version, seen=current.version)
        values |= {":s": item["status"]}
        if record.count_batch:
            values[":cb"] = item["cb"]
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=self.key(user_id=body.user_id, sk=fields["sk"]),
                UpdateExpression=expression,
                ConditionExpression="v = :seen",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=values,
            )
        except Exception as error:
            if condition_failed(error):
                return False
            raise
        self.meter.add(write_units(item))
        return True

    def record(
        self, delivery: Delivery, key: str, expires_at: int, counters: Counters | None = None
    ) -> bool:
        """A job-level record (key '<dedupe key>#-'); with `counters`, recorded and counted
        once: the outcome carrying them (`pending`), then a transaction that moves them."""
        item = self._outcome_item(delivery, key, expires_at)
        if counters is None:
            self.ddb.put_item(TableName=self.table, Item=item)
            self.meter.add(write_units(item))
            return True
        assert self.counters_table is not None, "counted records need the counters table"
        item |= self.to_item({"pending": json.dumps({"counters": counters, "first": None})})
        if not self.put_if(item, ConditionExpression="attribute_not_exists(sk)"):
            return False  # recorded (and counted) before
        return self._count(delivery.user_id, key, counters, None, expires_at)

    def _count(
        self,
        user_id: str,
        key: str,
        counters: Counters,
        first: tuple[str, Counters] | None,
        expires_at: int,
    ) -> bool:
        """Move a recorded outcome's counters and take its `pending` away, in one transaction;
        False, nothing moved, if it was counted already."""
        assert self.counters_table is not None, "counted records need the counters table"
        from nudge.adapters.dynamodb import _named_counter_updates

        table = self.counters_table
        done = {
            "Update": {
                "TableName": self.table,
                "Key": self.key(user_id=user_id, sk=key),
                "UpdateExpression": "REMOVE pending",
                "ConditionExpression": "attribute_exists(pending)",
            }
        }
        base = [done, *_named_counter_updates(table, user_id, counters)]
        extra: list[dict[str, Any]] = []
        if first is not None:
            marker, first_counters = first
            extra = [
                self._marker_put(user_id, marker, expires_at),
                *_named_counter_updates(table, user_id, first_counters),
            ]
        for attempt in (base + extra, base) if extra else (base,):
            try:
                self.ddb.transact_write_items(
                    TransactItems=attempt, ClientRequestToken=uuid.uuid4().hex
                )
            except Exception as error:
                reasons = _cancel_reasons(error)
                if reasons is None:
                    raise
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False  # counted before
                if len(reasons) > len(base) and "ConditionalCheckFailed" in reasons[len(base) :]:
                    continue  # another device of the job was counted as delivered first
                raise
            self.meter.add(2 * len(attempt))
            return True
        return False

    def leftovers(self, unknown: Delivery, expires_at: int, now: int) -> Leftovers:
        """Settle what earlier attempts of `unknown.job_id` left under its dedupe key: an
        outcome still `pending` is counted (once); a claim still `sending` past its lease is
        recorded as `unknown` (`unknown` with its device and claim time) and never sent."""
        prefix = f"{unknown.dedupe_key}#"
        settled: list[Delivery] = []
        busy_until: int | None = None
        for item in self._dedupe_items(unknown.user_id, prefix):
            if item.get("job_id", {}).get("S") != unknown.job_id:
                continue  # a marker, or another job with the same dedupe key
            key = item["sk"]["S"]
            if "pending" in item:
                pending = json.loads(item["pending"]["S"])
                first = pending["first"]
                first_pair = (first[0], first[1]) if first else None
                if self._count(unknown.user_id, key, pending["counters"], first_pair, expires_at):
                    settled.append(delivery_of(item))
            elif item.get("status", {}).get("S") == "sending":
                claimed_at = int(item["claimed_at"]["N"])
                if claimed_at >= now - CLAIM_LEASE_S:  # its sender may still be at work
                    end = claimed_at + CLAIM_LEASE_S
                    busy_until = end if busy_until is None else max(busy_until, end)
                    continue
                record = unknown.model_copy(
                    update={"device_id": key[len(prefix) :], "at": claimed_at}
                )
                marked = self.put_if(
                    self._outcome_item(record, key, expires_at, status="unknown"),
                    ConditionExpression="#s = :sending AND job_id = :job AND claimed_at = :at",
                    ExpressionAttributeNames={"#s": "status"},
                    ExpressionAttributeValues=self.values(
                        sending="sending", job=unknown.job_id, at=claimed_at
                    ),
                )
                if marked:
                    settled.append(record)
        return Leftovers(settled, busy_until)

    def _dedupe_items(self, user_id: str, prefix: str) -> list[dict[str, Any]]:
        items = self.items(
            "query",
            KeyConditionExpression="user_id = :u AND begins_with(sk, :p)",
            ExpressionAttributeValues=self.values(u=user_id, p=prefix),
            ConsistentRead=True,
        )
        return list(items)

    def _outcome_item(
        self, delivery: Delivery, key: str, expires_at: int, status: str | None = None
    ) -> dict[str, Any]:
        return self.to_item(
            {
                "user_id": delivery.user_id,
                "sk": key,
                "job_id": delivery.job_id,
                "status": status or delivery.outcome,
                "body": delivery.model_dump_json(),
                "expires_at": expires_at,
            }
        )

    def _marker_put(self, user_id: str, marker: str, expires_at: int) -> dict[str, Any]:
        item = self.to_item({"user_id": user_id, "sk": marker, "expires_at": expires_at})
        condition = "attribute_not_exists(sk)"
        return {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": condition}}

    def count_once(self, user_id: str, marker: str, counters: Counters, expires_at: int) -> bool:
        assert self.counters_table is not None, "counted marks need the counters table"
        from nudge.adapters.dynamodb import _named_counter_updates

        updates = _named_counter_updates(self.counters_table, user_id, counters)
        try:
            self.ddb.transact_write_items(
                TransactItems=[self._marker_put(user_id, marker, expires_at), *updates],
                ClientRequestToken=uuid.uuid4().hex,
            )
        except Exception as error:
            reasons = _cancel_reasons(error)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                return False  # counted before
            raise
        self.meter.add(2 * (1 + len(updates)))
        return True

    def for_job(self, job_id: str, user_id: str) -> list[Delivery]:
        """The job's records in its user's partition: the items it made, and its devices in
        a record another job (same dedupe key) made."""
        in_record = json.dumps(job_id)  # as a device's row names its job
        items = self._user_items(
            user_id, "job_id = :j OR contains(d, :q)", self.values(j=job_id, q=in_record)
        )
        return [d for item in items for d in records_of(item) if d.job_id == job_id]

    def mark(self, user_id: str, job_id: str, field: str, at: int) -> list[Delivery]:
        """One Query of the user's partition (opens are rare beside sends: its read units,
        about half a unit per 4 KB of the user's 30 days of records, cost less than an index
        entry per push would), then an update of each item the job made."""
        marked = []
        for item in self._user_items(user_id, "job_id = :j", self.values(j=job_id)):
            try:  # keeps the earliest: order-independent, and a duplicate changes nothing
                self.ddb.update_item(
                    TableName=self.table,
                    Key={"user_id": item["user_id"], "sk": item["sk"]},
                    UpdateExpression="SET #f = :t",
                    ConditionExpression=(
                        "attribute_exists(sk) AND (attribute_not_exists(#f) OR #f > :t)"
                    ),
                    ExpressionAttributeNames={"#f": field},
                    ExpressionAttributeValues=self.values(t=at),
                )
                self.meter.add(1)
            except Exception as error:
                if not condition_failed(error):
                    raise
            marked += records_of(item)
        return marked

    def _user_items(
        self, user_id: str, condition: str, values: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """The user's records matching `condition` (billed for every item read, filtered or
        not: the user's partition holds 30 days of their pushes)."""
        items = self.items(
            "query",
            KeyConditionExpression="user_id = :u",
            FilterExpression=f"attribute_exists(#body) AND ({condition})",
            ExpressionAttributeNames={"#body": "body"},
            ExpressionAttributeValues=self.values(u=user_id) | values,
        )
        return list(items)

    def for_user(self, user_id: str) -> list[Delivery]:
        items = self.items(
            "query",
            KeyConditionExpression="user_id = :u",
            ExpressionAttributeValues=self.values(u=user_id),
        )
        return [d for item in items if "body" in item for d in records_of(item)]

    def delete_user(self, user_id: str) -> int:
        """Erasure: every item in the user's partition (outcomes with their opens, claims,
        once-markers), found by a keys-only Query and deleted in batches of 25. The counters
        they moved are anonymous and stay."""
        keys = list(
            self.items(
                "query",
                KeyConditionExpression="user_id = :u",
                ExpressionAttributeValues=self.values(u=user_id),
                ProjectionExpression="user_id, sk",
                ConsistentRead=True,
            )
        )
        self.batch_write([{"DeleteRequest": {"Key": key}} for key in keys])
        return len(keys)
