"""When a push may go out: the user's time zone (never silently UTC) and quiet hours."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime, time, timedelta
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from nudge.models.device import QuietHours, check_timezone

if TYPE_CHECKING:
    from nudge.models.device import Device
    from nudge.models.profile import Profile

# Countries with several zones: the zone most of their people live in (zone.tab's own order
# is not by population).
_MOST_POPULOUS_ZONE = {
    "AR": "America/Argentina/Buenos_Aires",
    "AU": "Australia/Sydney",
    "BR": "America/Sao_Paulo",
    "CA": "America/Toronto",
    "CD": "Africa/Kinshasa",
    "CL": "America/Santiago",
    "CN": "Asia/Shanghai",
    "DE": "Europe/Berlin",
    "ES": "Europe/Madrid",
    "ID": "Asia/Jakarta",
    "KZ": "Asia/Almaty",
    "MX": "America/Mexico_City",
    "MY": "Asia/Kuala_Lumpur",
    "NZ": "Pacific/Auckland",
    "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow",
    "UA": "Europe/Kyiv",
    "US": "America/New_York",
}


def _zone_tab() -> list[list[str]]:
    """tzdata's zone.tab rows: country, ISO 6709 coordinates, zone (most populous first)."""
    table = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text()
    return [line.split("\t") for line in table.splitlines() if line and not line.startswith("#")]


@lru_cache(maxsize=1)
def _zones_by_country() -> dict[str, str]:
    """ISO country -> its principal IANA zone."""
    zones: dict[str, str] = {}
    for country, _, zone, *_ in _zone_tab():
        zones.setdefault(country.upper(), zone)
    return {**zones, **_MOST_POPULOUS_ZONE}


def _degrees(text: str) -> float:
    """One ISO 6709 part of zone.tab: +DDMM, +DDDMM, +DDMMSS or +DDDMMSS."""
    sign = -1.0 if text[0] == "-" else 1.0
    digits = text[1:]
    width = 2 if len(digits) in (4, 6) else 3
    whole, minutes, seconds = digits[:width], digits[width : width + 2], digits[width + 2 :]
    return sign * (int(whole) + int(minutes) / 60 + (int(seconds) / 3600 if seconds else 0))


@lru_cache(maxsize=1)
def _zone_points() -> list[tuple[float, float, str]]:
    """(lat, lng, zone) of each zone's principal city, from zone.tab."""
    points = []
    for _, coordinates, zone, *_ in _zone_tab():
        split = max(coordinates.rfind("+"), coordinates.rfind("-"))
        points.append((_degrees(coordinates[:split]), _degrees(coordinates[split:]), zone))
    return points


def zone_for_location(lat: float, lng: float) -> str:
    """The zone of the nearest principal city in zone.tab: right away from borders, a guess
    near them (no polygons shipped: the layer stays small). Great-circle distance."""
    from nudge.geometry import haversine_m

    return min(_zone_points(), key=lambda point: haversine_m(lat, lng, point[0], point[1]))[2]


def zone_for_locale(locale: str | None) -> str | None:
    """'nl-NL' -> Europe/Amsterdam; 'en' alone names no country, so it gives nothing."""
    if not locale:
        return None
    parts = locale.replace("_", "-").split("-")
    regions = [p for p in parts[1:] if len(p) == 2 and p.isalpha()]
    return _zones_by_country().get(regions[0].upper()) if regions else None


UNKNOWN_ZONE = "unknown"  # the source when nothing resolves: local-time rules withhold marketing
UNKNOWN_TIMEZONE = "unknown_timezone"  # the suppression reason of a withheld send


def withheld_without_zone(category: str) -> bool:
    """Local-time rules with no zone known: marketing (every category but transactional) is
    withheld rather than sent at a guessed hour; transactional goes."""
    return category != "transactional"


def resolve_zone(
    preferred: str | None,
    device_zones: Iterable[str | None],
    locales: Iterable[str | None],
    default: str | None,
    location: tuple[float, float] | Callable[[], tuple[float, float] | None] | None = None,
) -> tuple[str | None, str]:
    """(zone, where it came from), the one order every path uses: the user's preference, a
    device, a locale's country, the last known location, the app default (only when ops set
    one). (None, "unknown") when nothing is known: never a silent UTC. The iterables and a
    callable `location` are consumed only as far as needed (lazy readers stay unread)."""
    if preferred:
        return preferred, "preferences"
    for zone in device_zones:
        if zone:
            return zone, "device"
    for locale in locales:
        inferred = zone_for_locale(locale)
        if inferred:
            return inferred, "locale"
    if callable(location):
        location = location()
    if location is not None:
        return zone_for_location(*location), "location"
    if default:
        return default, "app default"
    return None, UNKNOWN_ZONE


def user_zone(
    preferred: str | None,
    devices: Callable[[], Sequence[Device]],
    profile: Callable[[], Profile | None],
    default: str | None,
) -> tuple[str | None, str]:
    """`resolve_zone` over one user's own data, reading each source only once it is needed:
    the preference; the devices' zones, then the profile's SDK-reported `timezone` (a device
    zone too); the devices' locales, then the profile's `locale`; the profile's last known
    location; the app default. Campaigns, push_sender and preview all resolve through this."""
    read: dict[str, Any] = {}  # each source read at most once, and only when reached

    def listed() -> Sequence[Device]:
        if "devices" not in read:
            read["devices"] = devices()
        return read["devices"]

    def person() -> Profile | None:
        if "profile" not in read:
            read["profile"] = profile()
        return read["profile"]

    def zones() -> Iterator[str | None]:
        yield from (device.timezone for device in listed())
        yield _known_zone(_attribute(person(), "timezone"))

    def locales() -> Iterator[str | None]:
        yield from (device.locale for device in listed())
        yield _attribute(person(), "locale")

    def location() -> tuple[float, float] | None:
        last = getattr(person(), "location", None)
        return (last.lat, last.lng) if last is not None else None

    return resolve_zone(preferred, zones(), locales(), default, location)


def _attribute(profile: Profile | None, name: str) -> str | None:
    attribute = profile.attributes.get(name) if profile is not None else None
    return str(attribute.value) if attribute is not None and attribute.value else None


def _known_zone(value: str | None) -> str | None:
    """A profile attribute is whatever an app sent: a name that is no IANA zone is ignored."""
    try:
        return check_timezone(value)
    except ValueError:
        return None


def in_quiet_hours(local: time, quiet: QuietHours) -> bool:
    if quiet.start < quiet.end:
        return quiet.start <= local < quiet.end
    return local >= quiet.start or local < quiet.end  # wraps midnight


def next_allowed(now: datetime, quiet: QuietHours | None, zone: str) -> datetime:
    """`now` when outside quiet hours, else the end of the quiet window (in UTC terms)."""
    if quiet is None:
        return now
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    if not in_quiet_hours(local.time().replace(tzinfo=None), quiet):
        return now
    end_day = local.date()
    if quiet.start > quiet.end and local.time().replace(tzinfo=None) >= quiet.start:
        end_day += timedelta(days=1)  # before midnight: the window ends tomorrow morning
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    end = datetime.combine(end_day, quiet.end, tzinfo=tz)
    candidates = []
    for fold in (0, 1):
        instant = end.replace(fold=fold).astimezone(now.tzinfo)
        if instant.astimezone(tz).replace(tzinfo=None) == end.replace(tzinfo=None):
            candidates.append(instant)  # this reading of the wall time really happens
    if not candidates:  # skipped by the jump forward: the later reading
        candidates = [end.astimezone(now.tzinfo)]
    # When clocks go back the end's wall time happens twice: the later one counts if we are
    # already past the first. (A wall time skipped when clocks go forward resolves a little
    # late, never early.)
    later = [c for c in candidates if c > now]
    return min(later) if later else now
