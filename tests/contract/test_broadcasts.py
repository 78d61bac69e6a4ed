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


@pytest.mark.parametrize("limit", [1, 2, 5, 50])
def test_audience_pages_lose_nothing(backend, request, limit: int) -> None:  # type: ignore[no-untyped-def]
    users = [f"u{i:02d}" for i in range(9)]
    if backend == "fake":
        audience: Any = InMemoryBroadcasts(users)
    else:
        ddb = request.getfixturevalue("tables").ddb
        devices = DynamoDeviceStore("DevicesTable", WriteMeter(), ddb)
        for i, user in enumerate(users):
            for d in range(1 + i % 3):  # some users have several devices
                devices.put_device(
                    Device(
                        user_id=user,
                        device_id=f"d{d}",
                        token=f"{user}-{d}",
                        platform="ios",
                        created_at=1,
                        updated_at=1,
                    )
                )
        devices.save_preferences(Preferences(user_id="prefs-only", version=1), None)
        audience = DynamoAudience("DevicesTable", WriteMeter(), ddb)
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
    if backend == "fake":
        audience: Any = InMemoryBroadcasts(users)
    else:
        ddb = request.getfixturevalue("tables").ddb
        devices = DynamoDeviceStore("DevicesTable", WriteMeter(), ddb)
        for user in users:
            for d in range(3):
                devices.put_device(
                    Device(
                        user_id=user,
                        device_id=f"d{d}",
                        token=f"{user}-{d}",
                        platform="ios",
                        created_at=1,
                        updated_at=1,
                    )
                )
        audience = DynamoAudience("DevicesTable", WriteMeter(), ddb)
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        page, cursor = audience.users_with_devices(cursor, 2)
        seen += page
        if cursor is None:
            break
    assert sorted(seen) == users
