"""The delivery log: one record per job and device (claim, then outcome), with TTL."""

from __future__ import annotations

import threading
from typing import Any

from nudge.adapters.dynamo_codec import write_units
from nudge.adapters.dynamo_table import DynamoTable, condition_failed
from nudge.models.push import Delivery

CLAIM_LEASE_S = 300  # a claim left by a crashed sender is taken over after this


class DynamoDeliveryLog(DynamoTable):
    """pk user_id, sk '<dedupe key>#<device>'; the job-index GSI finds a message's records."""

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

    def record(self, delivery: Delivery, key: str, expires_at: int) -> None:
        item = {
            "user_id": {"S": delivery.user_id},
            "sk": {"S": key},
            "job_id": {"S": delivery.job_id},
            "status": {"S": delivery.outcome},
            "body": {"S": delivery.model_dump_json()},
            "expires_at": {"N": str(expires_at)},
        }
        self.ddb.put_item(TableName=self.table, Item=item)
        self.meter.add(write_units(item))

    def for_job(self, job_id: str) -> list[Delivery]:
        response = self.ddb.query(
            TableName=self.table,
            IndexName="job-index",
            KeyConditionExpression="job_id = :j",
            ExpressionAttributeValues={":j": {"S": job_id}},
        )
        return [_delivery(item) for item in response.get("Items", []) if "body" in item]

    def mark(self, user_id: str, job_id: str, field: str, at: int) -> int:
        marked = 0
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
            marked += 1
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


class InMemoryDeliveryLog:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

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

    def record(self, delivery: Delivery, key: str, expires_at: int) -> None:
        with self._lock:
            self.rows[(delivery.user_id, key)] = {
                "status": delivery.outcome,
                "delivery": delivery,
                "claimed_at": delivery.at,
            }

    def mark(self, user_id: str, job_id: str, field: str, at: int) -> int:
        marked = 0
        with self._lock:
            for (user, _), row in self.rows.items():
                delivery = row.get("delivery")
                if user != user_id or delivery is None or delivery.job_id != job_id:
                    continue
                current = getattr(delivery, field)
                if current is None or current > at:
                    row["delivery"] = delivery.model_copy(update={field: at})
                marked += 1
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
