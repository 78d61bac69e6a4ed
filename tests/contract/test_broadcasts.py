"""The broadcast store and the audience: fake vs DynamoDB adapters."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from nudge.adapters.broadcasts import DynamoAudience, DynamoBroadcastStore
from nudge.adapters.devices import DynamoDeviceStore
from nudge.adapters.metering import WriteMeter
from nudge.models.broadcast import Broadcast
from nudge.models.device import Device, Preferences
from nudge.models.template import MessageTemplate
from tests.fakes.broadcasts import InMemoryBroadcasts

pytestmark = pytest.mark.integration


def fake() -> InMemoryBroadcasts:
    return InMemoryBroadcasts()


def adapter(ddb: Any) -> DynamoBroadcastStore:
    return DynamoBroadcastStore("BroadcastsTable", WriteMeter(), ddb)


def broadcast(step: int = 0, **fields: Any) -> Broadcast:
    return Broadcast.model_validate(
        {
            "broadcast_id": "b1",
            "template": MessageTemplate(
                id="t1", category="marketing", text={"en": {"title": "Hi", "body": "there"}}
            ),
            "target": {"all_users": True},
            "dedupe_key": "b1",
            "rate_per_minute": 600,
            "ttl_seconds": 3600,
            "created_at": datetime(2026, 3, 2, tzinfo=UTC),
            "step": step,
            **fields,
        }
    )


def test_create_once(store) -> None:  # type: ignore[no-untyped-def]
    assert store.get("b1") is None
    store.create(broadcast())
    store.create(broadcast(enqueued=99))  # a retried request changes nothing
    assert store.get("b1") == broadcast()


def test_advance_from_the_step_read(store) -> None:  # type: ignore[no-untyped-def]
    store.create(broadcast())
    assert store.advance(broadcast(1, cursor="c1", enqueued=10), from_step=0)
    assert not store.advance(broadcast(1, cursor="c-dup", enqueued=20), from_step=0)  # redelivery
    assert store.advance(broadcast(2, status="done", enqueued=15), from_step=1)
    assert store.get("b1") == broadcast(2, status="done", enqueued=15)


def test_advance_of_an_unknown_broadcast_is_refused(store) -> None:  # type: ignore[no-untyped-def]
    assert not store.advance(broadcast(1), from_step=0)
    assert store.get("b1") is None


def audience_of(backend: str, request: Any, devices: dict[str, int]) -> tuple[Any, Any]:
    """The audience port over users with that many devices each (the fake, or DynamoDB), and
    the device store behind it (None for the fake)."""
    if backend == "fake":
        return InMemoryBroadcasts(list(devices)), None
    ddb = request.getfixturevalue("tables").ddb
    store = DynamoDeviceStore("DevicesTable", WriteMeter(), ddb)
    for user, count in devices.items():
        for d in range(count):
            store.put_device(
                Device(
                    user_id=user,
                    device_id=f"d{d}",
                    token=f"{user}-{d}",
                    platform="ios",
                    created_at=1,
                    updated_at=1,
                )
            )
    return DynamoAudience("DevicesTable", WriteMeter(), ddb), store


@pytest.mark.parametrize("limit", [1, 2, 5, 50])
def test_audience_pages_lose_nothing(backend, request, limit: int) -> None:  # type: ignore[no-untyped-def]
    users = [f"u{i:02d}" for i in range(9)]
    # some users have several devices; one has preferences and no device
    audience, devices = audience_of(backend, request, {u: 1 + i % 3 for i, u in enumerate(users)})
    if devices is not None:
        devices.save_preferences(Preferences(user_id="prefs-only", version=1), None)
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        page, cursor = audience.users_with_devices(cursor, limit)
        assert len(page) <= limit and len(set(page)) == len(page)
        seen += page
        if cursor is None:
            break
    assert cursor is None
    assert sorted(set(seen)) == users  # nobody lost, nobody without a device


def test_audience_pages_repeat_nobody(backend, request) -> None:  # type: ignore[no-untyped-def]
    users = [f"u{i:02d}" for i in range(6)]
    audience, _ = audience_of(backend, request, dict.fromkeys(users, 3))
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        page, cursor = audience.users_with_devices(cursor, 2)
        seen += page
        if cursor is None:
            break
    assert sorted(seen) == users


ERASED_AT = datetime(2026, 3, 3, tzinfo=UTC)


def listed(broadcast_id: str, users: list[str], step: int = 0, **fields: Any) -> Broadcast:
    return broadcast(step, target={"user_ids": users}, **fields).model_copy(
        update={"broadcast_id": broadcast_id, "dedupe_key": broadcast_id}
    )


def test_a_finished_broadcast_keeps_only_the_length_of_its_list(store) -> None:  # type: ignore[no-untyped-def]
    store.create(listed("b1", ["ann", "bob"]))
    assert store.listing("ann") == [listed("b1", ["ann", "bob"])]
    assert store.advance(listed("b1", ["ann", "bob"], 1, status="done", enqueued=2), from_step=0)
    stored = store.get("b1")
    assert stored.target.user_ids is None and stored.target.total() == 2
    assert stored.enqueued == 2 and '"ann"' not in stored.model_dump_json()
    assert store.listing("ann") == [] and store.erase_user("ann", ERASED_AT) == 0


def test_erase_user_takes_them_out_of_running_lists_without_skipping_anyone(store) -> None:  # type: ignore[no-untyped-def]
    store.create(listed("b1", ["ann", "bob", "cat", "ann-2"]))  # "ann-2" is someone else
    store.advance(listed("b1", ["ann", "bob", "cat", "ann-2"], 1, cursor="2"), from_step=0)
    store.create(listed("b2", ["dan", "ann"]))
    store.create(listed("b3", ["ann"]))  # nobody left: its fan-out ends
    store.create(broadcast().model_copy(update={"broadcast_id": "b4", "data": {"who": "ann"}}))

    assert sorted(b.broadcast_id for b in store.listing("ann")) == ["b1", "b2", "b3"]
    assert store.erase_user("ann", ERASED_AT) == 3

    one = store.get("b1")  # the cursor moves back with the list: "cat" is still next
    assert (one.target.user_ids, one.cursor, one.step) == (["bob", "cat", "ann-2"], "1", 1)
    assert store.get("b2").target.user_ids == ["dan"] and store.get("b2").cursor is None
    three = store.get("b3")
    assert (three.status, three.finished_at, three.target.total()) == ("done", ERASED_AT, 0)
    assert store.get("b4").data == {"who": "ann"}  # named in its data, not listed: untouched
    assert store.listing("ann") == [] and store.erase_user("ann", ERASED_AT) == 0
    assert [b.broadcast_id for b in store.listing("ann-2")] == ["b1"]
    # the fan-out goes on from the moved cursor, and a step still refers to its number
    assert store.advance(one.model_copy(update={"step": 2, "cursor": None}), from_step=1)


def test_a_request_cannot_give_a_user_count() -> None:
    from pydantic import ValidationError

    from nudge.models.broadcast import BroadcastRequest

    request = {
        "template_id": "t1",
        "target": {"user_count": 5},
        "dedupe_key": "k",
    }
    with pytest.raises(ValidationError, match="user_count"):
        BroadcastRequest.model_validate(request)


def test_a_step_that_read_the_list_before_an_erasure_cannot_write_it_back(store) -> None:  # type: ignore[no-untyped-def]
    store.create(listed("b1", ["ann", "bob", "cat"]))
    read = store.get("b1")  # a step reads the list...
    assert store.erase_user("ann", ERASED_AT) == 1  # ...an erasure lands meanwhile...
    assert not store.advance(read.model_copy(update={"step": 1, "cursor": "1"}), from_step=0)
    again = store.get("b1")  # ...so the step runs again, from the list without her
    assert again.target.user_ids == ["bob", "cat"] and again.step == 0
    assert store.advance(again.model_copy(update={"step": 1, "cursor": "1"}), from_step=0)
    assert store.erase_user("bob", ERASED_AT) == 1  # erasures go on counting after a step
    assert store.get("b1").target.user_ids == ["cat"]
