"""The fatigue ledger: one small item per user in the delivery log's table.

pk the user id, sk `#fatigue` (no dedupe key starts with '#': `<key>#<device>` never collides),
so erasing the user's delivery-log partition (`DynamoDeliveryLog.delete_user`) erases it too,
and `for_user` (items with a `body`) never reads it. It holds the user's interruptions of the
last 8 days as compact JSON, a version for optimistic writes, and a TTL 8 days after the
newest entry (an idle user's item goes by itself). No `job_id` attribute: not in job-index.

Booking reads it strongly consistently, decides with `nudge.domain.messaging.fatigue.book`
and writes conditionally on the version read; on a conflict (another path booked meanwhile)
it reads and decides again, so two paths can never both take the last slot.
"""

from __future__ import annotations

import json

from nudge.adapters.dynamo_table import DynamoTable
from nudge.domain.config import CategoryCaps
from nudge.domain.messaging.fatigue import KEEP_S, book
from nudge.models.fatigue import Booking, Interruption
from nudge.services.retry import MAX_WRITE_ATTEMPTS, pause_before_retry

LEDGER_SK = "#fatigue"


class LedgerBusy(RuntimeError):
    """Other bookings kept winning the race: the caller's message is retried later."""


def _encode(entries: list[Interruption]) -> str:
    rows = [[e.key, e.at, e.category, e.source, e.job] for e in entries]
    return json.dumps(rows, separators=(",", ":"))


def _decode(text: str) -> list[Interruption]:
    return [
        Interruption(key, at, category, source, job)
        for key, at, category, source, job in json.loads(text)
    ]


class DynamoFatigueLedger(DynamoTable):
    def _read(self, user_id: str) -> tuple[list[Interruption], int]:
        response = self.ddb.get_item(
            TableName=self.table,
            Key=self.key(user_id=user_id, sk=LEDGER_SK),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if item is None:
            return [], 0
        return _decode(item["entries"]["S"]), int(item["version"]["N"])

    def interruptions(self, user_id: str) -> list[Interruption]:
        return self._read(user_id)[0]

    def book(
        self,
        user_id: str,
        interruption: Interruption,
        caps: CategoryCaps,
        zone: str | None,
        now: int,
    ) -> Booking:
        for attempt in range(MAX_WRITE_ATTEMPTS):
            pause_before_retry(attempt)
            entries, version = self._read(user_id)
            booking, kept = book(entries, interruption, caps, now, zone)
            if booking.status != "booked":
                return booking
            item = self.to_item(
                {
                    "user_id": user_id,
                    "sk": LEDGER_SK,
                    "entries": _encode(kept),
                    "version": version + 1,
                    "expires_at": max(e.at for e in kept) + KEEP_S,
                }
            )
            if version == 0:
                written = self.put_if(item, ConditionExpression="attribute_not_exists(sk)")
            else:
                written = self.put_if(
                    item,
                    ConditionExpression="version = :v",
                    ExpressionAttributeValues=self.values(v=version),
                )
            if written:
                return booking
        raise LedgerBusy(f"the fatigue ledger of {user_id!r} kept changing")
