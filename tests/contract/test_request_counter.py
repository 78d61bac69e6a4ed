"""RequestCounter: fake vs DynamoDB adapter (the conditional count, and erasure's delete)."""

from __future__ import annotations

from typing import Any

import pytest

from nudge.adapters.metering import WriteMeter
from nudge.adapters.ratelimit import STALE_KEPT, DynamoRequestCounter
from tests.contract.conftest import Tables
from tests.fakes.ratelimit import InMemoryRequestCounter

pytestmark = pytest.mark.integration
EXPIRES = 1_800_000_000


def fake() -> InMemoryRequestCounter:
    return InMemoryRequestCounter()


def adapter(ddb: Any) -> DynamoRequestCounter:
    return DynamoRequestCounter("ProfilesTable", WriteMeter(), ddb)


def taken(store: Any, scope: str, user: str, window: int, limit: int) -> int:
    """How many of `limit` more requests are counted now (0: the counter is full)."""
    return sum(store.take(scope, user, window, limit, EXPIRES) for _ in range(limit))


def test_requests_are_counted_up_to_the_limit_per_scope_and_user(store) -> None:  # type: ignore[no-untyped-def]
    assert taken(store, "events", "ann", 7, 3) == 3
    assert not store.take("events", "ann", 7, 3, EXPIRES)
    assert store.take("events", "ann", 7, 4, EXPIRES)  # a raised limit has room again
    assert store.take("devices", "ann", 7, 3, EXPIRES)  # another scope
    assert store.take("events", "bob", 7, 3, EXPIRES)  # another user


def test_a_new_window_starts_the_count_afresh(store) -> None:  # type: ignore[no-untyped-def]
    assert taken(store, "events", "ann", 7, 3) == 3
    assert taken(store, "events", "ann", 8, 3) == 3  # the next window: a full budget
    assert not store.take("events", "ann", 8, 3, EXPIRES)
    assert taken(store, "events", "ann", 11, 3) == 3  # windows skipped: the same


def test_an_older_window_never_resets_a_newer_one(store) -> None:  # type: ignore[no-untyped-def]
    """Containers' clocks differ a little: a request stamped with the window before the
    counter's is counted in the counter's window, never starts an old one afresh."""
    assert taken(store, "events", "ann", 9, 2) == 2
    assert not store.take("events", "ann", 8, 2, EXPIRES)  # full in 9: refused, not reset
    assert not store.take("events", "ann", 9, 2, EXPIRES)

    assert store.take("events", "bob", 9, 2, EXPIRES)
    assert store.take("events", "bob", 8, 2, EXPIRES)  # room left in 9: counted there
    assert not store.take("events", "bob", 9, 2, EXPIRES)  # so 9 is full now
    assert store.take("events", "bob", 10, 2, EXPIRES)


def test_forget_deletes_only_the_users_counters_of_the_given_scopes(store) -> None:  # type: ignore[no-untyped-def]
    for scope in ("events", "devices", "surveys"):
        assert taken(store, scope, "ann", 7, 2) == 2
    assert taken(store, "events", "bob", 7, 2) == 2

    # "preferences" has no counter of theirs: nothing to delete is no error
    store.forget("ann", ["events", "devices", "preferences"])
    store.forget("ann", ["events", "devices", "preferences"])  # idempotent

    for scope in ("events", "devices"):
        assert taken(store, scope, "ann", 7, 2) == 2
    assert taken(store, "surveys", "ann", 7, 2) == 0  # a scope not named
    assert taken(store, "events", "bob", 7, 2) == 0  # another user


class CountingClient:
    """The DynamoDB client, counting the UpdateItem calls made through it."""

    def __init__(self, ddb: Any) -> None:
        self.ddb = ddb
        self.updates = 0

    def update_item(self, **request: Any) -> Any:
        self.updates += 1
        return self.ddb.update_item(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ddb, name)


def test_one_item_per_user_and_scope_one_write_a_request(tables: Tables) -> None:
    """Issue 23: a window opening costs no second write (it did: two of every ~1.5)."""
    client = CountingClient(tables.ddb)
    counter = adapter(client)

    def calls(window: int, limit: int = 2) -> tuple[bool, int]:
        before = client.updates
        return counter.take("events", "ann", window, limit, EXPIRES + window), (
            client.updates - before
        )

    assert calls(7) == (True, 1)  # no item yet: created by the same write
    assert calls(7) == (True, 1)
    assert calls(7) == (False, 1)  # full: the refusal shows the current window, no 2nd call
    assert calls(8) == (True, 1)  # a window opens: the same one write
    assert calls(8) == (True, 1)
    assert counter.meter.total == 5

    items = tables.ddb.scan(TableName="ProfilesTable")["Items"]
    assert [(i["user_id"]["S"], i["expires_at"]["N"], i["n8"]["N"]) for i in items] == [
        ("#rate#events#ann", str(EXPIRES + 8), "2")  # the TTL refreshed by every write
    ]
    assert "n7" not in items[0]  # the window before is removed by the write that moves on


def test_windows_left_by_pauses_are_removed_before_they_pile_up(tables: Tables) -> None:
    counter = adapter(tables.ddb)
    for window in range(10, 10 + 3 * (STALE_KEPT + 2), 3):  # a pause after every request
        assert counter.take("events", "ann", window, 5, EXPIRES)
    (item,) = tables.ddb.scan(TableName="ProfilesTable")["Items"]
    assert len([name for name in item if name.startswith("n")]) <= STALE_KEPT + 1


def test_two_requests_opening_a_window_are_both_counted_in_it(tables: Tables) -> None:
    counter, other = adapter(tables.ddb), adapter(tables.ddb)
    assert counter.take("events", "ann", 7, 2, EXPIRES)
    assert other.take("events", "ann", 8, 2, EXPIRES)
    assert counter.take("events", "ann", 8, 2, EXPIRES)  # counted, not refused nor reset
    assert not other.take("events", "ann", 8, 2, EXPIRES)  # 2 counted in window 8
