"""DynamoDB store for devices and preferences (one partition per user) and its fake."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from nudge.adapters.dynamo_table import DynamoTable, condition_failed, versioned
from nudge.models.device import Device, Preferences, token_fingerprint

if TYPE_CHECKING:
    pass

TOKEN_INDEX = "token-index"  # noqa: S105 - an index name, not a secret
PREFS_SK = "prefs"
PARALLEL_READS = 10  # push_sender's batch: its users' partitions read at once
DEVICE_TTL = 270 * 86_400  # FCM treats tokens unused for 270 days as stale


class DynamoDeviceStore(DynamoTable):
    """Devices (sk d#<id>) and preferences (sk prefs), one partition per user."""

    def put_device(self, device: Device) -> bool:
        """Last registration wins; an older one arriving late is ignored (False)."""
        item = self.to_item(
            {
                "user_id": device.user_id,
                "sk": f"d#{device.device_id}",
                "token_hash": token_fingerprint(device.token),
                "body": device.model_dump_json(exclude={"user_id", "device_id"}),
                "updated_at": device.updated_at,
                "expires_at": device.updated_at + DEVICE_TTL,
            }
        )
        return self.put_if(
            item,
            index_units=1,
            ConditionExpression="attribute_not_exists(updated_at) OR updated_at <= :at",
            ExpressionAttributeValues=self.values(at=device.updated_at),
        )

    def devices(self, user_id: str, now: int | None = None) -> list[Device]:
        """The user's devices; those past their expiry (TTL deletes lazily) are left out."""
        return [
            _device(item)
            for item in self._query(user_id, "d#")
            if now is None or int(item["expires_at"]["N"]) > now
        ]

    def partitions(
        self, user_ids: Sequence[str], now: int | None = None
    ) -> dict[str, tuple[list[Device], Preferences | None]]:
        """Each user's devices (as `devices`) and preferences: one Query of the whole
        partition per user, the users' queries in parallel (push_sender's batch). Strongly
        consistent, as `preferences` is: an opt-out saved a moment ago must stop the push,
        and one consistent Query of a small partition costs less than an eventually
        consistent Query of the devices plus a consistent GetItem of the preferences."""
        users = sorted(set(user_ids))
        if not users:
            return {}
        with ThreadPoolExecutor(max_workers=min(PARALLEL_READS, len(users))) as pool:
            read = list(pool.map(lambda user: self._query(user, "", consistent=True), users))
        found: dict[str, tuple[list[Device], Preferences | None]] = {}
        for user_id, items in zip(users, read, strict=True):
            devices = [
                _device(i)
                for i in items
                if i["sk"]["S"].startswith("d#")
                and (now is None or int(i["expires_at"]["N"]) > now)
            ]
            prefs = next((i for i in items if i["sk"]["S"] == PREFS_SK), None)
            found[user_id] = (devices, _preferences(user_id, prefs) if prefs else None)
        return found

    def delete_device(self, user_id: str, device_id: str, only_if_token: str | None = None) -> bool:
        condition: dict[str, Any] = {}
        if only_if_token is not None:
            condition = {
                "ConditionExpression": "token_hash = :h",
                "ExpressionAttributeValues": self.values(h=token_fingerprint(only_if_token)),
            }
        try:
            response = self.ddb.delete_item(
                TableName=self.table,
                Key=self.key(user_id=user_id, sk=f"d#{device_id}"),
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
            ExpressionAttributeValues=self.values(h=token_fingerprint(token)),
        )
        return [(i["user_id"]["S"], i["sk"]["S"][2:]) for i in response.get("Items", [])]

    def preferences(self, user_id: str) -> Preferences | None:
        response = self.ddb.get_item(
            TableName=self.table,
            Key=self.key(user_id=user_id, sk=PREFS_SK),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        return _preferences(user_id, item)

    def preferences_many(self, user_ids: Sequence[str]) -> dict[str, Preferences]:
        keys = [self.key(user_id=u, sk=PREFS_SK) for u in sorted(set(user_ids))]
        found: dict[str, Preferences] = {}
        for item in self.batch_get(keys, consistent=True):
            user_id = item["user_id"]["S"]
            body = {**json.loads(item["body"]["S"]), "user_id": user_id}
            found[user_id] = Preferences.model_validate(body)
        return found

    def save_preferences(self, prefs: Preferences, previous: Preferences | None) -> bool:
        item = self.to_item(
            {
                "user_id": prefs.user_id,
                "sk": PREFS_SK,
                "v": prefs.version,
                "body": prefs.model_dump_json(exclude={"user_id"}),
            }
        )
        return self.put_if(item, **versioned("sk", previous.version if previous else None))

    def delete_user(self, user_id: str) -> int:
        items = self._query(user_id, "")
        self.batch_write(
            [{"DeleteRequest": {"Key": {"user_id": i["user_id"], "sk": i["sk"]}}} for i in items]
        )
        return len(items)

    def _query(self, user_id: str, prefix: str, consistent: bool = False) -> list[dict[str, Any]]:
        condition = "user_id = :u AND begins_with(sk, :p)" if prefix else "user_id = :u"
        values = self.values(u=user_id, p=prefix or None)
        return list(
            self.items(
                "query",
                KeyConditionExpression=condition,
                ExpressionAttributeValues=values,
                ConsistentRead=consistent,
            )
        )


def _preferences(user_id: str, item: dict[str, Any]) -> Preferences:
    return Preferences.model_validate({**json.loads(item["body"]["S"]), "user_id": user_id})


def _device(item: dict[str, Any]) -> Device:
    body = json.loads(item["body"]["S"])
    return Device.model_validate(
        {**body, "user_id": item["user_id"]["S"], "device_id": item["sk"]["S"][2:]}
    )
