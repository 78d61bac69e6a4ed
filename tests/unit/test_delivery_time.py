"""Time zones (never silently UTC) and quiet hours, including DST and windows over midnight."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nudge.domain.config import ConsentDefaults
from nudge.domain.messaging.delivery_time import (
    in_quiet_hours,
    next_allowed,
    resolve_zone,
    user_zone,
    zone_for_locale,
)
from nudge.models.device import Device, QuietHours
from nudge.models.profile import Attribute, LastLocation, Profile

NIGHT = QuietHours(start=time(22), end=time(8))
LUNCH = QuietHours(start=time(12), end=time(13, 30))


@pytest.mark.parametrize(
    ("locale", "zone"),
    [
        ("nl-NL", "Europe/Amsterdam"),
        ("nl_BE", "Europe/Brussels"),
        ("en-US", "America/New_York"),
        ("pt-BR", "America/Sao_Paulo"),
        ("zh-Hant-TW", "Asia/Taipei"),
        ("en", None),
        ("", None),
        (None, None),
        ("xx-ZZ", None),
    ],
)
def test_zone_from_locale(locale: str | None, zone: str | None) -> None:
    assert zone_for_locale(locale) == zone


def test_zone_resolution_order() -> None:
    assert resolve_zone("Asia/Tokyo", ["Europe/Paris"], ["nl-NL"], "UTC") == (
        "Asia/Tokyo",
        "preferences",
    )
    assert resolve_zone(None, [None, "Europe/Paris"], ["nl-NL"], "UTC") == (
        "Europe/Paris",
        "device",
    )
    assert resolve_zone(None, [None], ["en", "nl-NL"], "UTC") == ("Europe/Amsterdam", "locale")
    assert resolve_zone(None, [], ["en"], "Europe/Dublin") == ("Europe/Dublin", "app default")
    assert resolve_zone(None, [], ["en"], None) == (None, "unknown")  # never a silent UTC
    assert resolve_zone(None, [], [], None, (52.37, 4.9)) == ("Europe/Amsterdam", "location")


def test_a_lazy_location_is_asked_only_when_nothing_before_it_resolves() -> None:
    def unasked() -> tuple[float, float]:
        raise AssertionError("read although a device named the zone")

    assert resolve_zone(None, ["Asia/Tokyo"], [], None, unasked) == ("Asia/Tokyo", "device")
    assert resolve_zone(None, [], [], None, lambda: None) == (None, "unknown")
    assert resolve_zone(None, [], [], None, lambda: (35.68, 139.69))[0] == "Asia/Tokyo"


def _device(zone: str | None = None, locale: str | None = None) -> Device:
    return Device(
        user_id="ann",
        device_id="phone",
        token="t",
        platform="ios",
        locale=locale,
        timezone=zone,
        created_at=0,
        updated_at=0,
    )


def test_user_zone_reads_each_source_once_and_only_as_far_as_needed() -> None:
    reads: list[str] = []

    def devices() -> list[Device]:
        reads.append("devices")
        return [_device(locale="nl-NL")]

    def profile() -> Profile:
        reads.append("profile")
        return Profile(user_id="ann", attributes={"locale": Attribute(value="ja-JP", at=0)})

    assert user_zone("America/New_York", devices, profile, None) == (
        "America/New_York",
        "preferences",
    )
    assert reads == []  # the preference decides: nothing else is read
    assert user_zone(None, devices, profile, None) == ("Europe/Amsterdam", "locale")
    assert reads == ["devices", "profile"]  # the profile's own zone is a device zone: asked


def test_user_zone_ignores_a_profile_zone_that_is_no_zone_and_falls_to_the_location() -> None:
    profile = Profile(
        user_id="ann",
        attributes={"timezone": Attribute(value="Mars/Olympus", at=0)},
        location=LastLocation(lat=-33.87, lng=151.21, at=0),
    )
    assert user_zone(None, list, lambda: profile, None) == ("Australia/Sydney", "location")
    assert user_zone(None, list, lambda: None, None) == (None, "unknown")


def test_the_app_default_is_unset_unless_ops_set_a_real_zone() -> None:
    assert ConsentDefaults().default_timezone is None
    assert ConsentDefaults(default_timezone="Europe/Dublin").default_timezone == "Europe/Dublin"
    with pytest.raises(ValidationError, match="default_timezone"):
        ConsentDefaults(default_timezone="Mars/Olympus")


@pytest.mark.parametrize(
    ("local", "quiet", "expected"),
    [
        (time(23), NIGHT, True),
        (time(0, 30), NIGHT, True),
        (time(7, 59), NIGHT, True),
        (time(8), NIGHT, False),
        (time(21, 59), NIGHT, False),
        (time(12), LUNCH, True),
        (time(13, 30), LUNCH, False),
    ],
)
def test_in_quiet_hours(local: time, quiet: QuietHours, expected: bool) -> None:
    assert in_quiet_hours(local, quiet) is expected


def amsterdam(y: int, m: int, d: int, h: int, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=ZoneInfo("Europe/Amsterdam")).astimezone(UTC)


def test_evening_defers_to_next_morning() -> None:
    deferred = next_allowed(amsterdam(2026, 3, 2, 23), NIGHT, "Europe/Amsterdam")
    assert deferred == amsterdam(2026, 3, 3, 8)


def test_early_morning_defers_to_the_same_morning() -> None:
    assert next_allowed(amsterdam(2026, 3, 3, 6), NIGHT, "Europe/Amsterdam") == amsterdam(
        2026, 3, 3, 8
    )


def test_outside_quiet_hours_sends_now() -> None:
    now = amsterdam(2026, 3, 3, 10)
    assert next_allowed(now, NIGHT, "Europe/Amsterdam") == now
    assert next_allowed(now, None, "Europe/Amsterdam") == now


def test_the_users_zone_decides_not_utc() -> None:
    now = datetime(2026, 3, 3, 4, tzinfo=UTC)  # 05:00 in Amsterdam, 13:00 in Tokyo
    assert next_allowed(now, NIGHT, "Europe/Amsterdam") > now
    assert next_allowed(now, NIGHT, "Asia/Tokyo") == now


def test_spring_forward_night_is_handled() -> None:
    # 29 March 2026: Amsterdam skips 02:00-03:00; quiet hours ending at 02:30 end at 03:30
    quiet = QuietHours(start=time(1), end=time(2, 30))
    deferred = next_allowed(amsterdam(2026, 3, 29, 1, 15), quiet, "Europe/Amsterdam")
    assert deferred.astimezone(ZoneInfo("Europe/Amsterdam")).hour == 3


@settings(max_examples=300, deadline=None)
@given(
    minutes=st.integers(min_value=0, max_value=366 * 24 * 60),
    start=st.integers(min_value=0, max_value=24 * 60 - 1),
    end=st.integers(min_value=0, max_value=24 * 60 - 1),
    zone=st.sampled_from(
        ["Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]
    ),
)
def test_deferral_properties(minutes: int, start: int, end: int, zone: str) -> None:
    if start == end:
        return
    quiet = QuietHours(start=time(start // 60, start % 60), end=time(end // 60, end % 60))
    now = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    allowed = next_allowed(now, quiet, zone)
    assert now <= allowed < now + timedelta(hours=25)
    local = allowed.astimezone(ZoneInfo(zone)).time().replace(tzinfo=None)
    if allowed > now:
        assert not in_quiet_hours(local, quiet)


def test_fall_back_night_does_not_end_quiet_hours_early() -> None:
    # 25 October 2026: Amsterdam repeats 02:00-03:00. At the second 02:10, quiet hours that
    # end at 02:30 still have 20 minutes to go.
    quiet = QuietHours(start=time(22), end=time(2, 30))
    second_0210 = datetime(2026, 10, 25, 1, 10, tzinfo=UTC)  # 02:10 CET (after the switch)
    allowed = next_allowed(second_0210, quiet, "Europe/Amsterdam")
    assert allowed == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        next_allowed(datetime(2026, 3, 3, 23), NIGHT, "Europe/Amsterdam")
