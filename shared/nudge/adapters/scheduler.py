"""The scheduler's fan-out: its done marks in the profiles table, and the shards queue.

A mark is a small item next to the scheduler's cursor ('#scheduler-done#<DueShard.key>'),
with a TTL: the cursor passes a bucket only once it is empty or every part is marked, and a
mark that expired first only costs one more (idempotent) pass over that part.
"""

from __future__ import annotations

from collections.abc import Sequence

from nudge.adapters.dynamo_codec import write_units
from nudge.adapters.dynamo_table import DynamoTable
from nudge.adapters.dynamodb import DUE_INDEX
from nudge.adapters.sqs import SqsQueue
from nudge.models.keys import SYSTEM_PREFIX
from nudge.models.scheduler import DueShard

DONE_PREFIX = f"{SYSTEM_PREFIX}scheduler-done#"


class DynamoDueBuckets(DynamoTable):
    def count(self, bucket: str, up_to: int) -> int:
        found = 0
        for page in self.pages(
            "query",
            IndexName=DUE_INDEX,
            KeyConditionExpression="due_bucket = :b",
            ExpressionAttributeValues=self.values(b=bucket),
            Select="COUNT",
        ):
            found += int(page.get("Count", 0))
            if found >= up_to:  # enough to know how many parts: no more pages read
                break
        return found

    def done(self, keys: Sequence[str]) -> set[str]:
        wanted = [self.key(user_id=DONE_PREFIX + key) for key in dict.fromkeys(keys)]
        found = self.batch_get(wanted, consistent=True, projection="user_id")
        return {item["user_id"]["S"][len(DONE_PREFIX) :] for item in found}

    def mark_done(self, key: str, expires_at: int) -> None:
        item = self.to_item({"user_id": DONE_PREFIX + key, "expires_at": expires_at})
        self.ddb.put_item(TableName=self.table, Item=item)
        self.meter.add(write_units(item))


class SqsShardQueue(SqsQueue):
    """One message per part of a due bucket, 10 a call; one that could not be sent raises
    (the tick is retried, and the cursor never passes a bucket that was not done)."""

    def send(self, shards: Sequence[DueShard]) -> None:
        failed: list[str] = []
        for start in range(0, len(shards), 10):
            chunk = shards[start : start + 10]
            entries = [
                {"Id": str(i), "MessageBody": shard.model_dump_json()}
                for i, shard in enumerate(chunk)
            ]
            response = self.sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            failed += [chunk[int(entry["Id"])].key for entry in response.get("Failed", [])]
        if failed:
            raise RuntimeError(f"due buckets not queued: {', '.join(failed[:10])}")
