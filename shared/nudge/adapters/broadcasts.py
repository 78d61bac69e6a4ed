"""Broadcast storage and queues (DynamoDB, SQS), and in-memory fakes for tests."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from nudge.adapters.devices import _device  # a device item, read as the devices store does
from nudge.adapters.dynamo_table import DynamoTable
from nudge.adapters.sqs import SqsQueue
from nudge.models.broadcast import Broadcast, BroadcastStep, ZoneHints
from nudge.models.device import Device

PREFS_SK = "prefs"  # as the devices store keeps a user's preferences
LISTED_QUERIES_AT_ONCE = 8  # a listed target's devices: one Query per user, a few at a time
ERASE_ATTEMPTS = 10  # a running broadcast changes once per step: a few seconds apart at most
RUNNING_LIST = "running"


def _running_list(broadcast: Broadcast) -> bool:
    return broadcast.status == "running" and broadcast.target.user_ids is not None


class DynamoBroadcastStore(DynamoTable):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # per broadcast, the `erasures` count as this store's last `get` read it (0 if
        # never): `advance` holds only if no erasure wrote the list since, so a step never
        # writes an erased user back
        self._erasures_read: dict[str, int] = {}

    def _put(self, broadcast: Broadcast, condition: dict[str, Any], **extra: Any) -> bool:
        item = self.to_item(
            {
                "broadcast_id": broadcast.broadcast_id,
                "step": broadcast.step,
                "status": broadcast.status,  # on its own: conditions, push_sender's read
                "body": broadcast.kept().model_dump_json(),  # a finished one: no user list
                # the sparse running-lists-index: the lists that may name someone
                "lists_users": RUNNING_LIST if _running_list(broadcast) else None,
                **extra,
            }
        )
        return self.put_if(item, **condition)

    def create(self, broadcast: Broadcast) -> None:
        self._put(broadcast, {"ConditionExpression": "attribute_not_exists(broadcast_id)"})

    def get(self, broadcast_id: str) -> Broadcast | None:
        item = self.ddb.get_item(
            TableName=self.table, Key=self.key(broadcast_id=broadcast_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        self._erasures_read[broadcast_id] = int(item.get("erasures", {}).get("N", 0))
        return Broadcast.model_validate_json(item["body"]["S"])

    def status(self, broadcast_id: str) -> str | None:
        """The broadcast's status alone (None: no such broadcast), without its body."""
        item = self.ddb.get_item(
            TableName=self.table,
            Key=self.key(broadcast_id=broadcast_id),
            ConsistentRead=True,
            ProjectionExpression="broadcast_id, #st",
            ExpressionAttributeNames={"#st": "status"},
        ).get("Item")
        if not item or "broadcast_id" not in item:
            return None
        if "status" not in item:  # written before the status had its own attribute
            stored = self.get(broadcast_id)
            return stored.status if stored else None
        return str(item["status"]["S"])

    def advance(self, broadcast: Broadcast, from_step: int) -> bool:
        erasures = self._erasures_read.get(broadcast.broadcast_id, 0)
        return self._put(
            broadcast,
            {
                # and still running: a cancel is never undone (an item older than the status
                # attribute is checked by its step alone, as before); and no user was erased
                # from the list since this store read it (unknown: refused, read again)
                "ConditionExpression": (
                    "#s = :from AND (#st = :running OR attribute_not_exists(#st)) AND "
                    + ("erasures = :n" if erasures else "attribute_not_exists(erasures)")
                ),
                "ExpressionAttributeNames": {"#s": "step", "#st": "status"},
                "ExpressionAttributeValues": self.values(
                    **{"from": from_step}, running="running", n=erasures or None
                ),
            },
            **({"erasures": erasures} if erasures else {}),
        )

    # ---- erasure: the broadcasts whose stored list names a user ----
    def listing(self, user_id: str) -> list[Broadcast]:
        """Running broadcasts with the user in their list (a finished one keeps only its
        length)."""
        return [broadcast for broadcast, _ in self._naming(user_id)]

    def erase_user(self, user_id: str, now: datetime) -> int:
        """Take the user out of every stored list; how many broadcasts changed. Each write
        holds only if the broadcast is as read (step, status and `erasures`, a count these
        writes raise and `advance` keeps): two erasures at once don't undo each other, and a
        step that read the broadcast before this write can't write its copy back."""
        changed = 0
        for broadcast, erasures in self._naming(user_id):
            for _attempt in range(ERASE_ATTEMPTS):
                condition = {
                    "ConditionExpression": "#s = :step AND #st = :status AND "
                    + ("erasures = :n" if erasures else "attribute_not_exists(erasures)"),
                    "ExpressionAttributeNames": {"#s": "step", "#st": "status"},
                    "ExpressionAttributeValues": self.values(
                        step=broadcast.step, status=broadcast.status, n=erasures or None
                    ),
                }
                updated = broadcast.without_user(user_id, now)
                if self._put(updated, condition, erasures=erasures + 1):
                    changed += 1
                    break
                fresh = self._read(broadcast.broadcast_id)
                if fresh is None or not fresh[0].lists(user_id):
                    break
                broadcast, erasures = fresh
            else:
                raise RuntimeError(f"broadcast {broadcast.broadcast_id} kept changing")
        return changed

    def _naming(self, user_id: str) -> list[tuple[Broadcast, int]]:
        """Through the sparse index of running user lists (few: no Scan of every broadcast),
        each read in full and checked for the id."""
        found = []
        for key in self.items(
            "query",
            IndexName="running-lists-index",
            KeyConditionExpression="lists_users = :r",
            ExpressionAttributeValues=self.values(r=RUNNING_LIST),
        ):
            read = self._read(key["broadcast_id"]["S"])
            if read is not None and read[0].lists(user_id):
                found.append(read)
        return found

    def _read(self, broadcast_id: str) -> tuple[Broadcast, int] | None:
        item = self.ddb.get_item(
            TableName=self.table, Key=self.key(broadcast_id=broadcast_id), ConsistentRead=True
        ).get("Item")
        if not item:
            return None
        erasures = int(item.get("erasures", {}).get("N", 0))
        return Broadcast.model_validate_json(item["body"]["S"]), erasures


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
        _, users, next_cursor = self._page(cursor, limit, "user_id, sk")
        return users, next_cursor

    def users_with_zones(
        self, cursor: str | None, limit: int
    ) -> tuple[dict[str, ZoneHints], str | None]:
        """The page's devices come with it (a Scan reads whole items anyway: the bodies cost
        nothing more); the page's preferences in BatchGetItems; and the devices of a user the
        page ends inside, whose others are on the next page, in one Query."""
        items, users, next_cursor = self._page(cursor, limit, "user_id, sk, body")
        devices: dict[str, list[Device]] = {user: [] for user in users}
        for item in items:
            if item["user_id"]["S"] in devices:
                devices[item["user_id"]["S"]].append(_device(item))
        if next_cursor is not None:
            boundary = json.loads(next_cursor)["given"]
            if boundary in devices:
                devices[boundary] = self._devices_of(boundary)
        preferred = self._preferred_zones(users)
        hints = {user: ZoneHints(preferred.get(user), tuple(devices[user])) for user in users}
        return hints, next_cursor

    def zone_hints(self, user_ids: Sequence[str]) -> dict[str, ZoneHints]:
        users = sorted(set(user_ids))
        with ThreadPoolExecutor(max_workers=LISTED_QUERIES_AT_ONCE) as pool:
            devices = dict(zip(users, pool.map(self._devices_of, users), strict=True))
        preferred = self._preferred_zones(users)
        return {
            user: ZoneHints(preferred.get(user), tuple(devices[user]))
            for user in users
            if devices[user] or user in preferred
        }

    def _devices_of(self, user_id: str) -> list[Device]:
        items = self.items(
            "query",
            KeyConditionExpression="user_id = :u AND begins_with(sk, :d)",
            ExpressionAttributeValues=self.values(u=user_id, d="d#"),
        )
        return [_device(item) for item in items]

    def _preferred_zones(self, users: Sequence[str]) -> dict[str, str | None]:
        """user -> their preferences' zone (None: preferences without one)."""
        keys = [self.key(user_id=user, sk=PREFS_SK) for user in users]
        return {
            item["user_id"]["S"]: json.loads(item["body"]["S"]).get("timezone")
            for item in self.batch_get(keys, projection="user_id, body")
        }

    def _page(
        self, cursor: str | None, limit: int, projection: str
    ) -> tuple[list[dict[str, Any]], list[str], str | None]:
        """(the page's device items, their users, the next cursor)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "ProjectionExpression": projection,
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
        items = [
            item
            for item in response.get("Items", [])
            if item["sk"]["S"].startswith("d#") and item["user_id"]["S"] != given
        ]
        users = sorted({item["user_id"]["S"] for item in items})
        last = response.get("LastEvaluatedKey")
        if not last:
            return items, users, None
        boundary = last["user_id"]["S"]
        next_given = boundary if boundary in users else given if boundary == given else None
        return items, users, json.dumps({"key": last, "given": next_given}, sort_keys=True)
