"""DeviceStore: fake vs DynamoDB adapter (devices, tokens, preferences, erasure)."""

from __future__ import annotations

from typing import Any

import pytest

from nudge.adapters.devices import DEVICE_TTL, DynamoDeviceStore
from nudge.adapters.metering import WriteMeter
from nudge.models.device import Device, Preferences
from tests.conftest import START
from tests.fakes.devices import InMemoryDeviceStore

pytestmark = pytest.mark.integration
NOW = int(START.timestamp())


def fake() -> InMemoryDeviceStore:
    return InMemoryDeviceStore()


def adapter(ddb: Any) -> DynamoDeviceStore:
    return DynamoDeviceStore("DevicesTable", WriteMeter(), ddb)


def device(user: str, device_id: str, token: str, at: int = NOW) -> Device:
    return Device(
        user_id=user,
        device_id=device_id,
        token=token,
        platform="android",
        created_at=NOW - 100,
        updated_at=at,
    )


def test_last_registration_wins(store) -> None:  # type: ignore[no-untyped-def]
    assert store.put_device(device("ann", "d1", "t1", NOW))
    assert store.put_device(device("ann", "d1", "t2", NOW + 10))
    assert not store.put_device(device("ann", "d1", "t-old", NOW + 5))  # late, older
    assert store.put_device(device("ann", "d1", "t3", NOW + 10))  # same time: it wins
    assert store.devices("ann") == [device("ann", "d1", "t3", NOW + 10)]


def test_devices_in_key_order_and_expiry(store) -> None:  # type: ignore[no-untyped-def]
    store.put_device(device("ann", "d2", "t2", NOW))
    store.put_device(device("ann", "d1", "t1", NOW - DEVICE_TTL + 60))
    store.put_device(device("bob", "d0", "t0", NOW))
    assert [d.device_id for d in store.devices("ann")] == ["d1", "d2"]  # TTL-free read
    assert [d.device_id for d in store.devices("ann", now=NOW)] == ["d1", "d2"]
    assert [d.device_id for d in store.devices("ann", now=NOW + 60)] == ["d2"]  # expired
    assert store.devices("nobody") == []


def test_delete_device_only_if_token(store) -> None:  # type: ignore[no-untyped-def]
    store.put_device(device("ann", "d1", "t1"))
    assert not store.delete_device("ann", "d1", only_if_token="t-other")
    assert not store.delete_device("ann", "nope")
    assert not store.delete_device("ann", "nope", only_if_token="t1")
    assert store.devices("ann") != []
    assert store.delete_device("ann", "d1", only_if_token="t1")
    assert not store.delete_device("ann", "d1")
    assert store.devices("ann") == []


def test_holders_of_a_token(store) -> None:  # type: ignore[no-untyped-def]
    store.put_device(device("ann", "d1", "shared"))
    store.put_device(device("bob", "d9", "shared"))
    store.put_device(device("cy", "d1", "own"))
    assert sorted(store.holders_of("shared")) == [("ann", "d1"), ("bob", "d9")]
    store.put_device(device("ann", "d1", "fresh", NOW + 1))  # re-registered with a new token
    assert store.holders_of("shared") == [("bob", "d9")]
    assert store.holders_of("fresh") == [("ann", "d1")]
    assert store.holders_of("unknown") == []


def test_preferences_versioned(store) -> None:  # type: ignore[no-untyped-def]
    v1 = Preferences(user_id="ann", version=1, categories={"marketing": True}, updated_at=NOW)
    assert store.preferences("ann") is None
    assert not store.save_preferences(v1, Preferences(user_id="ann", version=1))  # none stored
    assert store.save_preferences(v1, None)
    assert not store.save_preferences(v1, None)  # created by someone else
    v2 = v1.model_copy(update={"version": 2, "categories": {"marketing": False}})
    assert store.save_preferences(v2, v1)
    assert not store.save_preferences(v2.model_copy(update={"version": 3}), v1)  # stale
    assert store.preferences("ann") == v2


def test_preferences_many(store) -> None:  # type: ignore[no-untyped-def]
    users = [f"u{i:03d}" for i in range(130)]  # more than one BatchGetItem holds
    for user in users[::2]:
        store.save_preferences(Preferences(user_id=user, version=1), None)
    found = store.preferences_many([*users, *users])
    assert sorted(found) == users[::2]
    assert found["u000"] == Preferences(user_id="u000", version=1)


def test_delete_user(store) -> None:  # type: ignore[no-untyped-def]
    store.put_device(device("ann", "d1", "t1"))
    store.put_device(device("ann", "d2", "t2"))
    store.save_preferences(Preferences(user_id="ann", version=1), None)
    store.put_device(device("bob", "d1", "t3"))
    assert store.delete_user("ann") == 3
    assert store.devices("ann") == [] and store.preferences("ann") is None
    assert store.holders_of("t1") == []
    assert store.delete_user("ann") == 0
    assert len(store.devices("bob")) == 1
