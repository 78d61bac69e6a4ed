"""FatigueLedger: fake vs DynamoDB adapter (booking, refusals, retries, races, erasure).

The adapter's item sits in DeliveryLogTable, in the user's partition: erasing the user's
delivery log erases it too, and the log's own readers never mistake it for a record.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from nudge.adapters.delivery_log import DynamoDeliveryLog
from nudge.adapters.fatigue import LEDGER_SK, DynamoFatigueLedger
from nudge.adapters.metering import WriteMeter
from nudge.domain.config import CategoryCaps
from nudge.models.fatigue import Interruption
from tests.conftest import START
from tests.fakes.delivery_log import InMemoryDeliveryLog
from tests.fakes.fatigue import InMemoryFatigueLedger

pytestmark = pytest.mark.integration
NOW = int(START.timestamp())  # Monday 09:00 UTC
CAPS = CategoryCaps(per_day=2, per_week=3)
ZONE = "Europe/Amsterdam"


class Ledger:
    """The ledger with the delivery log whose table (or rows) it shares."""

    def __init__(self, ledger: Any, log: Any) -> None:
        self.ledger, self.log = ledger, log

    def book(self, user: str, key: str, at: int = NOW, category: str = "marketing") -> str:
        entry = Interruption(key, at, category, "admin", f"job-{key}")
        booking = self.ledger.book(user, entry, CAPS, ZONE, at)
        return booking.status if booking.detail is None else f"{booking.status}: {booking.detail}"


def fake() -> Ledger:
    log = InMemoryDeliveryLog()
    return Ledger(InMemoryFatigueLedger(log), log)


def adapter(ddb: Any) -> Ledger:
    meter = WriteMeter()
    return Ledger(
        DynamoFatigueLedger("DeliveryLogTable", meter, ddb),
        DynamoDeliveryLog("DeliveryLogTable", meter, ddb),
    )


def test_bookings_are_counted_up_to_the_caps_once_per_key(store) -> None:  # type: ignore[no-untyped-def]
    assert store.book("ann", "a") == "booked"
    assert store.book("ann", "a", NOW + 5) == "already_booked"  # a redelivery
    assert store.book("ann", "b", NOW + 10) == "booked"
    assert store.book("ann", "c", NOW + 20) == ("refused: 2 marketing interruptions today (cap 2)")
    assert store.book("ann", "c", NOW + 20, "product_updates") == "booked"  # another category
    assert store.book("bob", "c", NOW + 20) == "booked"  # another user
    tomorrow = NOW + 86_400
    assert store.book("ann", "d", tomorrow) == "booked"
    assert store.book("ann", "e", tomorrow + 1) == (
        "refused: 3 marketing interruptions in the last 7 days (cap 3)"
    )
    entries = store.ledger.interruptions("ann")
    assert [(e.key, e.at, e.category, e.source, e.job) for e in entries] == [
        ("a", NOW, "marketing", "admin", "job-a"),
        ("b", NOW + 10, "marketing", "admin", "job-b"),
        ("c", NOW + 20, "product_updates", "admin", "job-c"),
        ("d", tomorrow, "marketing", "admin", "job-d"),
    ]
    assert store.ledger.interruptions("carl") == []


def test_entries_older_than_eight_days_are_pruned_on_the_next_booking(store) -> None:  # type: ignore[no-untyped-def]
    store.book("ann", "old")
    later = NOW + 9 * 86_400
    assert store.book("ann", "new", later) == "booked"
    assert [e.key for e in store.ledger.interruptions("ann")] == ["new"]


def test_racing_bookings_never_exceed_the_cap(store) -> None:  # type: ignore[no-untyped-def]
    """Eight paths book at once for the last two slots: exactly two win, whatever the order
    (the adapter's conditional write makes the losers re-read and decide again)."""
    results: list[str] = []
    lock = threading.Lock()

    def one(i: int) -> None:
        status = store.book("ann", f"k{i}")
        with lock:
            results.append(status.split(":")[0])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["booked"] * 2 + ["refused"] * 6
    assert len(store.ledger.interruptions("ann")) == 2


def test_erasing_the_users_delivery_log_erases_their_ledger(store) -> None:  # type: ignore[no-untyped-def]
    store.book("ann", "a")
    store.book("bob", "b")
    assert store.log.for_user("ann") == []  # not a delivery record
    assert store.log.delete_user("ann") == 1
    assert store.ledger.interruptions("ann") == []
    assert [e.key for e in store.ledger.interruptions("bob")] == ["b"]


def test_the_adapters_item_is_one_small_item_with_a_ttl(tables) -> None:  # type: ignore[no-untyped-def]
    ledger = adapter(tables.ddb)
    for i in range(2):
        ledger.book("ann", f"k{i}", NOW + i)
    item = tables.ddb.get_item(
        TableName="DeliveryLogTable", Key={"user_id": {"S": "ann"}, "sk": {"S": LEDGER_SK}}
    )["Item"]
    assert int(item["expires_at"]["N"]) == NOW + 1 + 8 * 86_400  # 8 days after the newest
    assert int(item["version"]["N"]) == 2 and "job_id" not in item  # not in job-index
