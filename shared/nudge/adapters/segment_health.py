"""Segment health's daily points: one system item a day in the profiles table.

`#segment-health#<YYYY-MM-DD>` holds every named segment's sampled size that day (JSON) and
expires on its own (TTL `expires_at`). Created once with a condition, so ticks that race
write one point; rewritten only to record the alerts the day raised.
"""

from __future__ import annotations

from collections.abc import Sequence

from nudge.adapters.dynamo_codec import write_units
from nudge.adapters.dynamo_table import DynamoTable
from nudge.domain.engagement.segment_health import HealthPoint
from nudge.models.keys import SYSTEM_PREFIX

KEY_PREFIX = f"{SYSTEM_PREFIX}segment-health#"


class DynamoSegmentHealthStore(DynamoTable):
    def _item(self, point: HealthPoint, expires_at: int) -> dict:
        return self.to_item(
            {"user_id": KEY_PREFIX + point.day, "body": point.to_json(), "expires_at": expires_at}
        )

    def get(self, day: str) -> HealthPoint | None:
        response = self.ddb.get_item(
            TableName=self.table, Key=self.key(user_id=KEY_PREFIX + day), ConsistentRead=True
        )
        item = response.get("Item")
        return HealthPoint.from_json(item["body"]["S"]) if item else None

    def days(self, days: Sequence[str]) -> dict[str, HealthPoint]:
        keys = [self.key(user_id=KEY_PREFIX + day) for day in sorted(set(days))]
        found = (HealthPoint.from_json(item["body"]["S"]) for item in self.batch_get(keys))
        return {point.day: point for point in found}

    def create(self, point: HealthPoint, expires_at: int) -> bool:
        return self.put_if(
            self._item(point, expires_at), ConditionExpression="attribute_not_exists(user_id)"
        )

    def put(self, point: HealthPoint, expires_at: int) -> None:
        item = self._item(point, expires_at)
        self.ddb.put_item(TableName=self.table, Item=item)
        self.meter.add(write_units(item))
