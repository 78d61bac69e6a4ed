"""Devices, preferences and consent over in-memory fakes; consent as pure functions."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from pydantic import ValidationError

from nudge.clock import ManualClock
from nudge.domain.config import ConsentDefaults, EngagementConfig
from nudge.domain.messaging.consent import consent_changes, default_categories, effective
from nudge.models.device import DeviceRegistration, Preferences, PreferencesUpdate, QuietHours
from nudge.services.messaging.devices import MAX_DEVICES_PER_USER, DevicesService
from tests.fakes.devices import InMemoryDeviceStore
from tests.fakes.memory import InMemoryHistoryStore


def registration(token: str = "fcm-token-aaaaaaaa", **extra: object) -> DeviceRegistration:  # noqa: S107
    return DeviceRegistration.model_validate(
        {
            "token": token,
            "platform": "android",
            "locale": "nl-NL",
            "timezone": "Europe/Amsterdam",
            **extra,
        }
    )


@pytest.fixture
def service(clock: ManualClock) -> DevicesService:
    return DevicesService(InMemoryDeviceStore(), InMemoryHistoryStore(), EngagementConfig(), clock)


def test_register_refresh_and_list(service: DevicesService, clock: ManualClock) -> None:
    first = service.register("ann", "phone", registration())
    clock.advance(timedelta(days=1))
    again = service.register("ann", "phone", registration("fcm-token-rotated1"))
    assert again.created_at == first.created_at and again.updated_at > first.updated_at
    (listed,) = service.devices("ann")
    assert listed["token_tail"] == "otated1"[-6:]
    assert "token" not in listed


def test_a_token_moves_to_the_account_that_registers_it(service: DevicesService) -> None:
    service.register("ann", "phone", registration("shared-phone-token"))
    service.register("bob", "phone-b", registration("shared-phone-token"))
    assert service.devices("ann") == []
    assert [d["device_id"] for d in service.devices("bob")] == ["phone-b"]


def test_users_only_touch_their_own_devices(service: DevicesService) -> None:
    service.register("ann", "phone", registration())
    assert service.unregister("bob", "phone") is False
    assert len(service.devices("ann")) == 1
    assert service.unregister("ann", "phone") is True
    assert service.unregister("ann", "phone") is False  # idempotent


def test_device_count_is_bounded_by_replacing_the_longest_silent(
    service: DevicesService, clock: ManualClock
) -> None:
    for i in range(MAX_DEVICES_PER_USER):
        service.register("ann", f"d{i:02d}", registration(f"token-number-{i:04d}"))
        clock.advance(timedelta(minutes=1))
    service.register("ann", "d00", registration("token-number-0000"))  # d00 is fresh again
    service.register("ann", "new-phone", registration("token-number-9999"))
    ids = {d["device_id"] for d in service.devices("ann")}
    assert len(ids) == MAX_DEVICES_PER_USER
    assert "new-phone" in ids and "d00" in ids and "d01" not in ids


def test_expired_devices_are_not_listed(service: DevicesService, clock: ManualClock) -> None:
    service.register("ann", "old", registration())
    clock.advance(timedelta(days=271))
    assert service.devices("ann") == []


def test_a_token_move_spares_an_install_that_moved_on(service: DevicesService) -> None:
    service.register("ann", "phone", registration("shared-phone-token"))
    holders = service.store.holders_of("shared-phone-token")
    service.register("ann", "phone", registration("anns-new-token-xx"))  # ann rotated meanwhile
    for holder in holders:
        assert service.store.delete_device(*holder, only_if_token="shared-phone-token") is False
    assert len(service.devices("ann")) == 1


def test_a_late_older_registration_does_not_win(clock: ManualClock) -> None:
    store = InMemoryDeviceStore()
    service = DevicesService(store, InMemoryHistoryStore(), EngagementConfig(), clock)
    newer = service.register("ann", "phone", registration("new-token-xxxxx"))
    older = newer.model_copy(
        update={"token": "old-token-xxxxx", "updated_at": newer.updated_at - 5}
    )
    assert store.put_device(older) is False
    assert store.devices("ann")[0].token == "new-token-xxxxx"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("timezone", "CET+1"),
        ("timezone", "Mars/Olympus"),
        ("timezone", "America"),
        ("timezone", "A" * 300),
        ("timezone", "localtime"),
        ("platform", "symbian"),
        ("locale", "not a locale"),
        ("token", "short"),
        ("token", "has spaces in it"),
        ("unknown", 1),
    ],
)
def test_bad_registrations_name_the_field(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as error:
        registration(**{field: value})
    assert field in str(error.value)


def test_defaults_follow_the_consent_mode() -> None:
    assert default_categories(ConsentDefaults(mode="opt_in"))["marketing"] is False
    assert default_categories(ConsentDefaults(mode="opt_out"))["marketing"] is True
    assert default_categories(ConsentDefaults())["transactional"] is True


def test_effective_preferences_fill_defaults() -> None:
    view = effective(None, ConsentDefaults())
    assert view.quiet_hours == QuietHours(start=time(22), end=time(8))
    cleared = Preferences(user_id="u", quiet_hours=None, quiet_hours_set=True)
    assert effective(cleared, ConsentDefaults()).quiet_hours is None
    opted = Preferences(user_id="u", categories={"marketing": True, "transactional": False})
    categories = effective(opted, ConsentDefaults()).categories
    assert categories["marketing"] is True and categories["transactional"] is False


def test_consent_changes_only_list_real_changes() -> None:
    before = effective(None, ConsentDefaults())
    after = effective(
        Preferences(user_id="u", categories={"marketing": True, "internal": True}),
        ConsentDefaults(),
    )
    (change,) = consent_changes(before, after, at=10, source="app")
    assert (change.category, change.granted, change.previous) == ("marketing", True, False)


def test_preference_updates_merge_and_audit(service: DevicesService, clock: ManualClock) -> None:
    view = service.update_preferences(
        "ann", PreferencesUpdate.model_validate({"categories": {"marketing": True}})
    )
    assert view["categories"]["marketing"] is True
    clock.advance(timedelta(minutes=5))
    view = service.update_preferences(
        "ann",
        PreferencesUpdate.model_validate(
            {"categories": {"marketing": False, "transactional": False}, "quiet_hours": None}
        ),
    )
    assert view["categories"] == {
        "transactional": False,
        "marketing": False,
        "product_updates": True,
        "internal": True,
        "location": False,  # off until granted in opt_in mode
    }
    assert view["quiet_hours"] is None
    trail = [r for r in service.history.list_user("ann") if r["type"] == "consent"]
    assert [(r["category"], r["granted"]) for r in trail] == [
        ("marketing", True),
        ("marketing", False),
        ("transactional", False),
    ]
    assert all(r["source"] == "app" for r in trail)
    unchanged = service.update_preferences("ann", PreferencesUpdate.model_validate({}))
    assert unchanged == view
    assert len([r for r in service.history.list_user("ann") if r["type"] == "consent"]) == 3


@pytest.mark.parametrize(
    "body",
    [
        {"categories": {"spam": True}},
        {"categories": {"marketing": "yes please"}},
        {"quiet_hours": {"start": "25:00", "end": "07:00"}},
        {"quiet_hours": {"start": "22:00", "end": "22:00"}},
        {"quiet_hours": {"start": "22:00+05:00", "end": "07:00"}},
        {"quiet_hours": {"start": 5, "end": "07:00"}},
        {"quiet_hours": {"start": "22:00:30", "end": "07:00"}},
        {"categories": {"marketing": "yes"}},
        {"timezone": "Moon/Base"},
        {"colour": "blue"},
    ],
)
def test_bad_preference_updates_are_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        PreferencesUpdate.model_validate(body)


def test_quick_flips_keep_every_consent_record(service: DevicesService) -> None:
    for granted in (True, False, True):  # within the same second
        service.update_preferences(
            "ann", PreferencesUpdate.model_validate({"categories": {"marketing": granted}})
        )
    trail = [r["granted"] for r in service.history.list_user("ann") if r["type"] == "consent"]
    assert trail == [True, False, True]


def test_device_facts_become_profile_attributes_once_per_change(clock: ManualClock) -> None:
    from tests.fakes.memory import InMemoryPublisher

    publisher = InMemoryPublisher()
    service = DevicesService(
        InMemoryDeviceStore(), InMemoryHistoryStore(), EngagementConfig(), clock, publisher
    )
    registration = DeviceRegistration.model_validate(
        {
            "token": "t" * 40,
            "platform": "android",
            "app_version": "3.2.0",
            "locale": "nl-BE",
            "timezone": "Europe/Brussels",
        }
    )
    service.register("ann", "phone/1 with spaces", registration)
    service.register("ann", "phone/1 with spaces", registration)  # a refresh: nothing new
    (batch,) = publisher.sent
    (event,) = batch.events
    assert (batch.user_id, event.name) == ("ann", "user_attributes")
    assert event.properties == {
        "platform": "android",
        "app_version": "3.2.0",
        "locale": "nl-BE",
        "timezone": "Europe/Brussels",
        "country": "BE",
    }
