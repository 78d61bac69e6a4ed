"""One user's time zone for campaign decisions and push_sender, so the two cannot disagree:
the order of `delivery_time.user_zone` (preference -> devices -> the profile's SDK zone ->
locales -> last known location -> an app default set by ops), over readers asked only as far
as that order needs and at most once. A caller that already holds a source passes it as is.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from nudge.domain.messaging.delivery_time import user_zone

if TYPE_CHECKING:
    from nudge.domain.messaging.consent import EffectivePreferences
    from nudge.models.device import Device
    from nudge.models.profile import Profile
    from nudge.services.ports import DeviceLister, ProfileReader


class UserZone:
    """Call it for the zone (None: unknown); `resolve()` also says where it came from. Nothing
    is read until the first call, so a decision that needs no zone costs no read."""

    def __init__(
        self,
        preferred: Callable[[], str | None],
        devices: Callable[[], Sequence[Device]],
        profile: Callable[[], Profile | None],
        default: str | None,
    ) -> None:
        self._preferred, self._devices, self._profile = preferred, devices, profile
        self._default = default
        self._resolved: tuple[str | None, str] | None = None

    def resolve(self) -> tuple[str | None, str]:
        if self._resolved is None:
            self._resolved = user_zone(
                self._preferred(), self._devices, self._profile, self._default
            )
        return self._resolved

    def __call__(self) -> str | None:
        return self.resolve()[0]


def campaign_zone(
    profile: Profile,
    preferences: Callable[[], EffectivePreferences],
    devices: DeviceLister | None,
    now: int,
    default: str | None,
) -> UserZone:
    """For a campaign decision: the profile is in hand; preferences and devices are read only
    when a rule needs the zone (the preferences reader is the one consent already uses).
    Without a device reader (tests, benchmarks) the user has no devices to ask."""

    def listed() -> Sequence[Device]:
        return devices.devices(profile.user_id, now) if devices is not None else ()

    return UserZone(lambda: preferences().timezone, listed, lambda: profile, default)


def push_zone(
    user_id: str,
    preferences: EffectivePreferences,
    devices: Sequence[Device],
    profiles: ProfileReader | None,
    default: str | None,
) -> UserZone:
    """For push_sender: preferences and devices are read for consent anyway; the profile is
    read only when neither names a zone."""

    def profile() -> Profile | None:
        return profiles.get(user_id) if profiles is not None else None

    return UserZone(lambda: preferences.timezone, lambda: devices, profile, default)
