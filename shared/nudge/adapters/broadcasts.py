"""Broadcast storage and queues (DynamoDB, SQS), and in-memory fakes for tests."""

from __future__ import annotations

import json
from typing import Any

from nudge.adapters.dynamo_table import DynamoTable
from nudge.adapters.sqs import SqsQueue
from nudge.models.broadcast import Broadcast, BroadcastStep


class DynamoBroadcastStore(DynamoTable):
    def _put(self, broadcast: Broadcast, condition: dict[str, Any]) -> bool:
        item = self.to_item(
            {
                "broadcast_id": broadcast.broadcast_id,
                "step": broadcast.step,
                "body": broadcast.model_dump_json(),
            }
        )
        return self.put_if(item, **condition)

    def create(self, broadcast: Broadcast) -> None:
        self._put(broadcast, {"ConditionExpression": "attribute_not_exists(broadcast_id)"})

    def get(self, broadcast_id: str) -> Broadcast | None:
        item = self.ddb.get_item(
            TableName=self.table, Key=self.key(broadcast_id=broadcast_id), ConsistentRead=True
        ).get("Item")
        return Broadcast.model_validate_json(item["body"]["S"]) if item else None

    def advance(self, broadcast: Broadcast, from_step: int) -> bool:
        return self._put(
            broadcast,
            {
                "ConditionExpression": "#s = :from",
                "ExpressionAttributeNames": {"#s": "step"},
                "ExpressionAttributeValues": self.to_item({":from": from_step}),
            },
        )


class SqsStepQueue(SqsQueue):
    def schedule(self, step: BroadcastStep, delay_s: int) -> None:
        self.sqs.send_message(
            QueueUrl=self.queue_url, MessageBody=step.model_dump_json(), DelaySeconds=delay_s
        )


class SqsJobQueue(SqsQueue):
    def enqueue_many(self, bodies: list[str]) -> None:
        for start in range(0, len(bodies), 10):
            entries = [
                {"Id": str(i), "MessageBody": body}
                for i, body in enumerate(bodies[start : start + 10])
            ]
            failed = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries).get(
                "Failed", []
            )
            if failed:  # the step is retried; job ids and dedupe keys make that harmless
                raise RuntimeError(f"{len(failed)} pushes could not be queued")


class DynamoAudience(DynamoTable):
    """Everyone with a registered device: the devices table, page by page (a batch job)."""

    def users_with_devices(self, cursor: str | None, limit: int) -> tuple[list[str], str | None]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "ProjectionExpression": "user_id, sk",
            "Limit": limit,
        }
        # The caller holds the cursor between steps, so this pages by hand. A page ends after
        # `limit` items, possibly inside a user's items (one partition, read contiguously):
        # the cursor remembers the last user given, so the next page doesn't give it again.
        given = None
        if cursor:
            position = json.loads(cursor)
            if "key" in position:
                given = position.get("given")
                position = position["key"]
            kwargs["ExclusiveStartKey"] = position  # (a cursor of the older form is the key)
        response = self.ddb.scan(**kwargs)
        users = sorted(
            {
                item["user_id"]["S"]
                for item in response.get("Items", [])
                if item["sk"]["S"].startswith("d#") and item["user_id"]["S"] != given
            }
        )
        last = response.get("LastEvaluatedKey")
        if not last:
            return users, None
        boundary = last["user_id"]["S"]
        next_given = boundary if boundary in users else given if boundary == given else None
        return users, json.dumps({"key": last, "given": next_given}, sort_keys=True)
