"""The audience's zone hints for local-time broadcasts: fake vs the DynamoDB adapter (devices
read with the page, preferences batched, a user split across pages read whole)."""

from __future__ import annotations

from typing import Any

import pytest

from nudge.adapters.broadcasts import DynamoAudience
from nudge.adapters.devices import DynamoDeviceStore
from nudge.adapters.metering import WriteMeter
from nudge.models.broadcast import ZoneHints
from nudge.models.device import Device, Preferences
from tests.fakes.broadcasts import InMemoryBroadcasts

pytestmark = pytest.mark.integration

# user -> (their preferences' zone or None when they have no preferences, their devices as
# (timezone, locale, push_enabled) in device-id order)
STORED: dict[str, tuple[str | None, list[tuple[str | None, str | None, bool]]]] = {
    "ann": ("Asia/Tokyo", [("Europe/London", "en-GB", True)]),
    "bob": (None, [(None, "nl-NL", True), ("America/New_York", None, True)]),
    "cho": (None, [("Asia/Seoul", None, False), ("Asia/Kolkata", "hi-IN", True)]),
    "dee": (None, [(None, None, True)]),
    "eve": (None, [("Europe/Amsterdam", None, True)] * 3),
}


def device(user: str, n: int, zone: str | None, locale: str | None, enabled: bool) -> Device:
    return Device(
        user_id=user,
        device_id=f"d{n}",
        token=f"{user}-token-{n}",
        platform="android",
        timezone=zone,
        locale=locale,
        push_enabled=enabled,
        created_at=1,
        updated_at=1,
    )


# what the one resolver is given: the preferences' zone, every device in device-id order
EXPECTED = {
    user: ZoneHints(preferred, tuple(device(user, n, *d) for n, d in enumerate(devices)))
    for user, (preferred, devices) in STORED.items()
}


def audience(backend: str, request: Any) -> Any:
    if backend == "fake":
        return InMemoryBroadcasts(sorted(STORED), EXPECTED)
    ddb = request.getfixturevalue("tables").ddb
    store = DynamoDeviceStore("DevicesTable", WriteMeter(), ddb)
    for user, (preferred, devices) in STORED.items():
        if preferred is not None:
            store.save_preferences(Preferences(user_id=user, version=1, timezone=preferred), None)
        for n, stored in enumerate(devices):
            store.put_device(device(user, n, *stored))
    store.save_preferences(Preferences(user_id="no-device", version=1, timezone="UTC"), None)
    return DynamoAudience("DevicesTable", WriteMeter(), ddb)


@pytest.mark.parametrize("limit", [1, 2, 3, 50])
def test_pages_carry_each_users_zone_hints(backend, request, limit: int) -> None:  # type: ignore[no-untyped-def]
    port = audience(backend, request)
    seen: dict[str, ZoneHints] = {}
    cursor = None
    for _ in range(100):
        page, cursor = port.users_with_zones(cursor, limit)
        assert not set(page) & set(seen)  # nobody twice
        seen.update(page)
        if cursor is None:
            break
    assert seen == EXPECTED  # a user split across pages keeps all their devices


def test_named_users_hints(backend, request) -> None:  # type: ignore[no-untyped-def]
    port = audience(backend, request)
    assert port.zone_hints(["cho", "ann", "nobody", "ann"]) == {
        "ann": EXPECTED["ann"],
        "cho": EXPECTED["cho"],
    }
