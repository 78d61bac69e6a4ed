"""The delivery log: one record per job and device (claim, then outcome), with TTL.

At most one send per dedupe key and device, whatever fails: a claim (`sending`) is taken only
if the key was never claimed or was released for a retry (`retry`). After FCM answers, the
first write is the outcome itself, a one-item conditional put that makes the claim permanent;
the counters it moves follow in a second write, guarded by the `pending` attribute the first
one left (so a retried count still counts once). A claim still `sending` past its lease (the
sender died, or its outcome write never landed) is never taken over: its job's redelivery
records it as `unknown` (FCM may have accepted it: a possibly lost push, never a double one).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

from nudge.adapters.dynamo_codec import write_units
from nudge.adapters.dynamo_table import DynamoTable, condition_failed, error_code
from nudge.adapters.metering import METER, WriteMeter
from nudge.models.push import Delivery, Leftovers

CLAIM_LEASE_S = 300  # a claim still `sending` after this: its result is unknown (never resent)
JOB_LEVEL = "#-"  # the key suffix of a job's record when no device was involved

Counters = Mapping[str, Mapping[str, int]]


def _cancel_reasons(error: Exception) -> list[str | None] | None:
    """Per item codes of a cancelled transaction; None for any other error."""
    if error_code(error) != "TransactionCanceledException":
        return None
    reasons = getattr(error, "response", {}).get("CancellationReasons") or []
    return [reason.get("Code") for reason in reasons]


class DynamoDeliveryLog(DynamoTable):
    """pk user_id, sk '<dedupe key>#<device>'; the job-index GSI finds a message's records.

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

    def claim(self, user_id: str, key: str, job_id: str, now: int) -> bool:
        item = self.to_item(
            {
                "user_id": user_id,
                "sk": key,
                "job_id": job_id,
                "status": "sending",
                "claimed_at": now,
                "expires_at": now + 30 * 86_400,
            }
        )
        return self.put_if(  # never over a stale `sending` claim: see `leftovers`
            item,
            ConditionExpression="attribute_not_exists(sk) OR #s = :retry",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues=self.values(retry="retry"),
        )

    def release(self, user_id: str, key: str) -> None:
        """Only a claim still `sending` is reopened: a key recorded meanwhile (or settled as
        `unknown` by a redelivery) is never made claimable again."""
        try:
            self.ddb.update_item(
                TableName=self.table,
                Key=self.key(user_id=user_id, sk=key),
                UpdateExpression="SET #s = :retry",
                ConditionExpression="#s = :sending",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=self.values(retry="retry", sending="sending"),
            )
        except Exception as error:
            if not condition_failed(error):
                raise

    def record(
        self,
        delivery: Delivery,
        key: str,
        expires_at: int,
        counters: Counters | None = None,
        first: tuple[str, Counters] | None = None,
    ) -> bool:
        item = self._outcome_item(delivery, key, expires_at)
        if counters is None and first is None:
            self.ddb.put_item(TableName=self.table, Item=item)
            self.meter.add(write_units(item))
            return True
        assert self.counters_table is not None, "counted records need the counters table"
        # 1. the outcome, with what it is still to count: from here on the key is never sent
        # again, whatever happens to the count (a redelivery finishes it: `leftovers`)
        item |= self.to_item({"pending": json.dumps({"counters": counters or {}, "first": first})})
        if key.endswith(JOB_LEVEL):  # a job-level outcome is recorded (and counted) once
            recorded = self.put_if(item, ConditionExpression="attribute_not_exists(sk)")
        else:  # only while the claim is still ours (not yet recorded, nor marked unknown)
            recorded = self.put_if(
                item,
                ConditionExpression="#s = :sending AND job_id = :job AND claimed_at = :at",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues=self.values(
                    sending="sending", job=delivery.job_id, at=delivery.at
                ),
            )
        if not recorded:
            return False  # recorded (and counted) before, or the claim moved on
        # 2. the count, once: it takes `pending` away in the same transaction
        return self._count(delivery.user_id, key, counters or {}, first, expires_at)

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
                    settled.append(_delivery(item))
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

    def for_job(self, job_id: str) -> list[Delivery]:
        return [_delivery(item) for item in self._job_items(job_id) if "body" in item]

    def mark(self, user_id: str, job_id: str, field: str, at: int) -> list[Delivery]:
        marked = []
        for item in self._job_items(job_id):
            if item["user_id"]["S"] != user_id or "body" not in item:
                continue
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
            marked.append(_delivery(item))
        return marked

    def _job_items(self, job_id: str) -> list[dict[str, Any]]:
        return list(
            self.items(
                "query",
                IndexName="job-index",
                KeyConditionExpression="job_id = :j",
                ExpressionAttributeValues=self.values(j=job_id),
            )
        )

    def for_user(self, user_id: str) -> list[Delivery]:
        items = self.items(
            "query",
            KeyConditionExpression="user_id = :u",
            ExpressionAttributeValues=self.values(u=user_id),
        )
        return [_delivery(item) for item in items if "body" in item]

    def delete_user(self, user_id: str) -> int:
        """Erasure: every item in the user's partition (outcomes with their opens, claims,
        once-markers), found by a keys-only Query and deleted in batches of 25; the job
        index's entries go with them. The counters they moved are anonymous and stay."""
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


def _delivery(item: dict[str, Any]) -> Delivery:
    delivery = Delivery.model_validate_json(item["body"]["S"])
    marks = {f: int(item[f]["N"]) for f in ("opened_at", "dismissed_at") if f in item}
    return delivery.model_copy(update=marks) if marks else delivery
