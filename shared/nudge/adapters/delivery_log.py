"""The delivery log: one record per job and device (claim, then outcome), with TTL."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from nudge.adapters.dynamo_codec import write_units
from nudge.adapters.dynamo_table import DynamoTable, condition_failed, error_code
from nudge.adapters.metering import METER, WriteMeter
from nudge.models.push import Delivery

CLAIM_LEASE_S = 300  # a claim left by a crashed sender is taken over after this
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
        item = {
            "user_id": {"S": user_id},
            "sk": {"S": key},
            "job_id": {"S": job_id},
            "status": {"S": "sending"},
            "claimed_at": {"N": str(now)},
            "expires_at": {"N": str(now + 30 * 86_400)},
        }
        return self.put_if(
            item,
            ConditionExpression=(
                "attribute_not_exists(sk) OR #s = :retry OR (#s = :sending AND claimed_at < :stale)"
            ),
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":retry": {"S": "retry"},
                ":sending": {"S": "sending"},
                ":stale": {"N": str(now - CLAIM_LEASE_S)},
            },
        )

    def release(self, user_id: str, key: str) -> None:
        self.ddb.update_item(
            TableName=self.table,
            Key={"user_id": {"S": user_id}, "sk": {"S": key}},
            UpdateExpression="SET #s = :retry",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":retry": {"S": "retry"}},
        )

    def record(
        self,
        delivery: Delivery,
        key: str,
        expires_at: int,
        counters: Counters | None = None,
        first: tuple[str, Counters] | None = None,
    ) -> bool:
        item = {
            "user_id": {"S": delivery.user_id},
            "sk": {"S": key},
            "job_id": {"S": delivery.job_id},
            "status": {"S": delivery.outcome},
            "body": {"S": delivery.model_dump_json()},
            "expires_at": {"N": str(expires_at)},
        }
        if counters is None and first is None:
            self.ddb.put_item(TableName=self.table, Item=item)
            self.meter.add(write_units(item))
            return True
        assert self.counters_table is not None, "counted records need the counters table"
        from nudge.adapters.dynamodb import _named_counter_updates

        put: dict[str, Any] = {"TableName": self.table, "Item": item}
        if key.endswith(JOB_LEVEL):  # a job-level outcome is recorded (and counted) once
            put["ConditionExpression"] = "attribute_not_exists(sk)"
        else:  # only while the claim is still ours: a sender that took over counts instead
            put["ConditionExpression"] = "#s = :sending AND job_id = :job AND claimed_at = :at"
            put["ExpressionAttributeNames"] = {"#s": "status"}
            put["ExpressionAttributeValues"] = {
                ":sending": {"S": "sending"},
                ":job": {"S": delivery.job_id},
                ":at": {"N": str(delivery.at)},
            }
        table, user = self.counters_table, delivery.user_id
        base = [{"Put": put}, *_named_counter_updates(table, user, counters or {})]
        extra: list[dict[str, Any]] = []
        if first is not None:
            marker, first_counters = first
            extra = [
                self._marker_put(user, marker, expires_at),
                *_named_counter_updates(table, user, first_counters),
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
                    return False  # recorded (and counted) before, or the claim moved on
                if len(reasons) > len(base) and "ConditionalCheckFailed" in reasons[len(base) :]:
                    continue  # another device of the job was counted as delivered first
                raise
            self.meter.add(2 * (write_units(item) + len(attempt) - 1))
            return True
        return False

    def _marker_put(self, user_id: str, marker: str, expires_at: int) -> dict[str, Any]:
        item = {
            "user_id": {"S": user_id},
            "sk": {"S": marker},
            "expires_at": {"N": str(expires_at)},
        }
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
        response = self.ddb.query(
            TableName=self.table,
            IndexName="job-index",
            KeyConditionExpression="job_id = :j",
            ExpressionAttributeValues={":j": {"S": job_id}},
        )
        return [_delivery(item) for item in response.get("Items", []) if "body" in item]

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
                    ExpressionAttributeValues={":t": {"N": str(at)}},
                )
                self.meter.add(1)
            except Exception as error:
                if not condition_failed(error):
                    raise
            marked.append(_delivery(item))
        return marked

    def _job_items(self, job_id: str) -> list[dict[str, Any]]:
        response = self.ddb.query(
            TableName=self.table,
            IndexName="job-index",
            KeyConditionExpression="job_id = :j",
            ExpressionAttributeValues={":j": {"S": job_id}},
        )
        return list(response.get("Items", []))

    def for_user(self, user_id: str) -> list[Delivery]:
        response = self.ddb.query(
            TableName=self.table,
            KeyConditionExpression="user_id = :u",
            ExpressionAttributeValues={":u": {"S": user_id}},
        )
        return [_delivery(item) for item in response.get("Items", []) if "body" in item]


def _delivery(item: dict[str, Any]) -> Delivery:
    delivery = Delivery.model_validate_json(item["body"]["S"])
    marks = {f: int(item[f]["N"]) for f in ("opened_at", "dismissed_at") if f in item}
    return delivery.model_copy(update=marks) if marks else delivery
