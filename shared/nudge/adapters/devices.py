"""DynamoDB store for devices and preferences (one partition per user) and its fake."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from nudge.adapters.dynamo_table import DynamoTable, condition_failed, versioned
from nudge.models.device import Device, Preferences, token_fingerprint

if TYPE_CHECKING:
    pass

TOKEN_INDEX = "token-index"  # noqa: S105 - an index name, not a secret
PREFS_SK = "prefs"
DEVICE_TTL = 270 * 86_400  # FCM treats tokens unused for 270 days as stale


class DynamoDeviceStore(DynamoTable):
    """Devices (sk d#<id>) and preferences (sk prefs), one partition per user."""

    def put_device(self, device: Device) -> bool:
        """Last registration wins; an older one arriving late is ignored (False)."""
        item = {
            "user_id": {"S": device.user_id},
            "sk": {"S": f"d#{device.device_id}"},
            "token_hash": {"S": token_fingerprint(device.token)},
            "body": {"S": device.model_dump_json(exclude={"user_id", "device_id"})},
            "updated_at": {"N": str(device.updated_at)},
            "expires_at": {"N": str(device.updated_at + DEVICE_TTL)},
        }
        return self.put_if(
            item,
            index_units=1,
            ConditionExpression="attribute_not_exists(updated_at) OR updated_at <= :at",
            ExpressionAttributeValues={":at": {"N": str(device.updated_at)}},
        )

    def devices(self, user_id: str, now: int | None = None) -> list[Device]:
        """The user's devices; those past their expiry (TTL deletes lazily) are left out."""
        return [
            _device(item)
            for item in self._query(user_id, "d#")
            if now is None or int(item["expires_at"]["N"]) > now
        ]

    def delete_device(self, user_id: str, device_id: str, only_if_token: str | None = None) -> bool:
        condition: dict[str, Any] = {}
        if only_if_token is not None:
            condition = {
                "ConditionExpression": "token_hash = :h",
                "ExpressionAttributeValues": {":h": {"S": token_fingerprint(only_if_token)}},
            }
        try:
            response = self.ddb.delete_item(
                TableName=self.table,
                Key={"user_id": {"S": user_id}, "sk": {"S": f"d#{device_id}"}},
                ReturnValues="ALL_OLD",
                **condition,
            )
        except Exception as error:
            if condition_failed(error):
                return False
            raise
        return "Attributes" in response

    def holders_of(self, token: str) -> list[tuple[str, str]]:
        """(user_id, device_id) of every registration of this token."""
        response = self.ddb.query(
            TableName=self.table,
            IndexName=TOKEN_INDEX,
            KeyConditionExpression="token_hash = :h",
            ExpressionAttributeValues={":h": {"S": token_fingerprint(token)}},
        )
        return [(i["user_id"]["S"], i["sk"]["S"][2:]) for i in response.get("Items", [])]

    def preferences(self, user_id: str) -> Preferences | None:
        response = self.ddb.get_item(
            TableName=self.table,
            Key={"user_id": {"S": user_id}, "sk": {"S": PREFS_SK}},
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        return Preferences.model_validate({**json.loads(item["body"]["S"]), "user_id": user_id})

    def preferences_many(self, user_ids: Sequence[str]) -> dict[str, Preferences]:
        found: dict[str, Preferences] = {}
        unique = sorted(set(user_ids))
        for start in range(0, len(unique), 100):
            keys = [
                {"user_id": {"S": u}, "sk": {"S": PREFS_SK}} for u in unique[start : start + 100]
            ]
            request: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True}}
            while request:
                response = self.ddb.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    user_id = item["user_id"]["S"]
                    body = {**json.loads(item["body"]["S"]), "user_id": user_id}
                    found[user_id] = Preferences.model_validate(body)
                request = response.get("UnprocessedKeys") or {}
        return found

    def save_preferences(self, prefs: Preferences, previous: Preferences | None) -> bool:
        item = {
            "user_id": {"S": prefs.user_id},
            "sk": {"S": PREFS_SK},
            "v": {"N": str(prefs.version)},
            "body": {"S": prefs.model_dump_json(exclude={"user_id"})},
        }
        return self.put_if(item, **versioned("sk", previous.version if previous else None))

    def delete_user(self, user_id: str) -> int:
        items = self._query(user_id, "")
        self.batch_write(
            [{"DeleteRequest": {"Key": {"user_id": i["user_id"], "sk": i["sk"]}}} for i in items]
        )
        return len(items)

    def _query(self, user_id: str, prefix: str) -> list[dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "user_id = :u",
            "ExpressionAttributeValues": {":u": {"S": user_id}},
        }
        if prefix:
            kwargs["KeyConditionExpression"] += " AND begins_with(sk, :p)"
            kwargs["ExpressionAttributeValues"][":p"] = {"S": prefix}
        items: list[dict[str, Any]] = []
        while True:
            response = self.ddb.query(**kwargs)
            items.extend(response.get("Items", []))
            if "LastEvaluatedKey" not in response:
                return items
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def _device(item: dict[str, Any]) -> Device:
    body = json.loads(item["body"]["S"])
    return Device.model_validate(
        {**body, "user_id": item["user_id"]["S"], "device_id": item["sk"]["S"][2:]}
    )
