"""Devices (FCM registration tokens) and the caller's delivery preferences."""

from __future__ import annotations

import hashlib
import re
from datetime import time
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
)

_HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d(:00)?$")
Platform = Literal["ios", "android", "web"]
# Consent categories: the four message categories, and `location` (geofence tracking: a user
# without it is never tracked - no fences to monitor, no location updates used).
Category = Literal["transactional", "marketing", "product_updates", "internal", "location"]
CATEGORIES: tuple[Category, ...] = (
    "transactional",
    "marketing",
    "product_updates",
    "internal",
    "location",
)
DeviceId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
]
Locale = Annotated[
    str, StringConstraints(max_length=35, pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")
]


def check_timezone(value: str | None) -> str | None:
    """An IANA zone name such as Europe/Amsterdam (offsets like +01:00 are refused)."""
    if value is None:
        return None
    if len(value) > 64 or value not in _zones():
        raise ValueError(f"unknown IANA time zone {value[:64]!r}, e.g. Europe/Amsterdam")
    return value


def _zones() -> set[str]:
    global _ZONES
    if _ZONES is None:
        _ZONES = available_timezones() - {"localtime", "posixrules", "Factory"}
    return _ZONES


_ZONES: set[str] | None = None


def token_fingerprint(token: str) -> str:
    """Index and log tokens by fingerprint, never in full."""
    return hashlib.sha256(token.encode()).hexdigest()[:32]


class DeviceRegistration(BaseModel):
    """Body of PUT /v1/devices/{device_id}: the app registers or refreshes its FCM token."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    token: str = Field(min_length=8, max_length=4096, pattern=r"^\S+$", description="FCM token")
    platform: Platform
    app_version: str | None = Field(default=None, max_length=32)
    locale: Locale | None = Field(default=None, description="BCP 47, e.g. nl-NL")
    timezone: str | None = Field(default=None, description="IANA zone, e.g. Europe/Amsterdam")
    push_enabled: bool = Field(default=True, description="The OS permission for notifications")

    _zone = field_validator("timezone")(classmethod(lambda cls, v: check_timezone(v)))


class Device(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    user_id: str
    device_id: str
    token: str
    platform: Platform
    app_version: str | None = None
    locale: str | None = None
    timezone: str | None = None
    push_enabled: bool = True
    created_at: int
    updated_at: int

    def public(self) -> dict[str, object]:
        """What the app and exports see: the token only by its last characters."""
        data = self.model_dump(exclude={"token", "user_id"})
        data["token_tail"] = self.token[-6:]
        return data


class QuietHours(BaseModel):
    """A daily window in the user's own time zone; it may wrap midnight (22:00-07:00)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    start: time = Field(description="HH:MM, local time")
    end: time = Field(description="HH:MM, local time")

    @field_validator("start", "end", mode="before")
    @classmethod
    def _wall_clock(cls, value: object) -> object:
        if isinstance(value, str) and not _HH_MM.fullmatch(value):
            raise ValueError("use HH:MM on a 24-hour clock, e.g. 22:00 (no offset: local time)")
        if not isinstance(value, str | time):
            raise ValueError("use HH:MM on a 24-hour clock, e.g. 22:00")
        return value

    @field_validator("start", "end")
    @classmethod
    def _naive_minutes(cls, value: time) -> time:
        if value.tzinfo is not None or value.second or value.microsecond:
            raise ValueError("use HH:MM local time, without seconds or an offset")
        return value

    @field_validator("end")
    @classmethod
    def _not_empty(cls, end: time, info: object) -> time:
        start = getattr(info, "data", {}).get("start")
        if start is not None and start == end:
            raise ValueError("quiet hours need a start different from the end")
        return end


class PreferencesUpdate(BaseModel):
    """Body of PUT /v1/me/preferences. Omitted fields are unchanged; quiet_hours null clears."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    categories: dict[Category, StrictBool] | None = None
    quiet_hours: QuietHours | None = None
    timezone: str | None = Field(default=None, description="IANA zone; overrides the device's")

    _zone = field_validator("timezone")(classmethod(lambda cls, v: check_timezone(v)))


class ConsentRecord(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    granted: bool
    at: int
    source: str


class Preferences(BaseModel):
    """What is stored (only what the user set); defaults are applied when read."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    user_id: str
    version: int = 0
    categories: dict[Category, bool] = Field(default_factory=dict)
    quiet_hours: QuietHours | None = None
    quiet_hours_set: bool = False  # distinguishes "cleared" from "never set"
    timezone: str | None = None
    updated_at: int | None = None
    # The decision behind each category's current value, kept with the choice itself (same
    # write, no expiry): the evidence for what is in force never goes missing.
    consents: dict[Category, ConsentRecord] = Field(default_factory=dict)


class ConsentChange(BaseModel):
    """One entry of the opt-in audit trail."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    category: Category
    granted: bool
    previous: bool
    at: int
    source: str  # "app", "admin", ...
    version: int = 0  # the preferences version that made the change
    occurred_at: AwareDatetime | None = None
