"""Amazon Pinpoint endpoint exports, mapped onto Nudge users, devices and profiles. Pure.

An export (CreateExportJob) is newline-delimited JSON, one `EndpointResponse` per line. Every
endpoint names its user (`User.UserId`); one without becomes an anonymous user keyed by the
endpoint, `pinpoint:<endpoint id>`. What each endpoint gives:

- `GCM` (FCM tokens, usable as they are): a device, its id the endpoint id.
- `APNS`, `APNS_SANDBOX`, `APNS_VOIP`: raw APNs tokens FCM cannot use, so no device; counted
  as needing re-registration (the app registers again through PUT /v1/devices/{id}).
- Every other channel (EMAIL, SMS, VOICE, CUSTOM, ADM, BAIDU, PUSH): skipped with a reason;
  its user, attributes and opt-out still count.
- `OptOut: ALL` on any endpoint of a user: every consent category off (never the reverse).
- `Demographic`: locale, time zone, platform, app version as profile attributes;
  `Location.Country` as `country`; coordinates, city and region only with location consent.
- `Attributes`, `User.UserAttributes`, `Metrics`: profile attributes under their own names
  (segments test them like any attribute); a list of several values is kept joined by commas.
- `CohortId` ("0"-"99"): the `pinpoint_cohort` attribute.

Attributes carry the endpoint's EffectiveDate as their time, and merge last-writer-wins like
`user_attributes` events: importing the same export again changes nothing, and a newer value
the app has set since is never overwritten.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_pascal

from nudge.domain.profiles.aggregates import MAX_ATTRIBUTE_CHARS, MAX_ATTRIBUTES
from nudge.domain.profiles.ingest import describe_validation_error
from nudge.models.device import Device, Platform, check_timezone
from nudge.models.profile import Attribute, AttributeValue, LastLocation, Profile

MAX_ENDPOINTS_PER_USER = 10  # Pinpoint's own limit per user id
MAX_USER_ID = 256  # as the events queue accepts (QueuedBatch.user_id)
ANONYMOUS_PREFIX = "pinpoint:"
COHORT_ATTRIBUTE = "pinpoint_cohort"
APNS_CHANNELS = frozenset({"APNS", "APNS_SANDBOX", "APNS_VOIP"})
SKIP_REASONS = {
    "EMAIL": "email endpoint: Nudge sends push notifications only",
    "SMS": "SMS endpoint: Nudge sends push notifications only",
    "VOICE": "voice endpoint: Nudge sends push notifications only",
    "CUSTOM": "custom channel: no Nudge equivalent",
    "ADM": "Amazon Device Messaging: FCM cannot deliver to ADM tokens",
    "BAIDU": "Baidu push: FCM cannot deliver to Baidu tokens",
    "PUSH": "generic push endpoint without a token type: the app must register",
}
INACTIVE_REASON = "inactive endpoint (Pinpoint stopped delivering to it)"
NO_TOKEN_REASON = "GCM endpoint without a usable token in Address"  # noqa: S105 - a message
_DEVICE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_ATTRIBUTE_NAME = re.compile(r"[^A-Za-z0-9_.\-]")
_LOCALE = re.compile(r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")
_TOKEN = re.compile(r"^\S{8,4096}$")
# profile facts the import sets itself: a Pinpoint attribute of the same name gives way
FACTS = ("country", "locale", "timezone", "platform", "app_version", COHORT_ATTRIBUTE)
LOCATION_FACTS = ("city", "region")


# --- the export's shapes (public Pinpoint API): missing keys tolerated, extra keys kept -----


class _Pinpoint(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_pascal,
        populate_by_name=True,
        extra="allow",
        allow_inf_nan=False,
        protected_namespaces=(),
    )


class EndpointDemographic(_Pinpoint):
    app_version: str | None = None
    locale: str | None = None
    make: str | None = None
    model: str | None = None
    model_version: str | None = None
    platform: str | None = None
    platform_version: str | None = None
    timezone: str | None = None


class EndpointLocation(_Pinpoint):
    city: str | None = None
    country: str | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    postal_code: str | None = None
    region: str | None = None


class EndpointUser(_Pinpoint):
    user_id: str | None = None
    user_attributes: dict[str, list[str]] = Field(default_factory=dict)


class EndpointResponse(_Pinpoint):
    id: str = Field(min_length=1)
    application_id: str | None = None
    channel_type: str | None = None
    address: str | None = None
    endpoint_status: str | None = None
    opt_out: str | None = None
    cohort_id: int | None = Field(default=None, ge=0, le=99)
    creation_date: datetime | None = None
    effective_date: datetime | None = None
    demographic: EndpointDemographic | None = None
    location: EndpointLocation | None = None
    attributes: dict[str, list[str]] = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    user: EndpointUser | None = None

    @field_validator("creation_date", "effective_date")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a time zone, e.g. 2026-01-31T12:00:00Z")
        return value

    @property
    def user_id(self) -> str:
        named = (self.user.user_id or "").strip() if self.user else ""
        return named or f"{ANONYMOUS_PREFIX}{self.id}"

    @property
    def effective_at(self) -> int:
        """When Pinpoint last changed the endpoint (epoch seconds; 0 unknown: any later wins)."""
        when = self.effective_date or self.creation_date
        return int(when.timestamp()) if when else 0


def parse_endpoint(line: str | bytes) -> EndpointResponse:
    """One export line; ValueError naming the field (never echoing the data) when it is bad."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"not JSON: {error.msg} at column {error.colno}") from None
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    try:
        endpoint = EndpointResponse.model_validate(data)
    except ValidationError as error:
        raise ValueError(describe_validation_error(error)) from None
    if len(endpoint.user_id) > MAX_USER_ID:
        raise ValueError(f"User.UserId: longer than {MAX_USER_ID} characters")
    return endpoint


# --- one user's endpoints, planned -------------------------------------------------------


@dataclass
class UserPlan:
    """What one user's endpoints (of one batch) add to Nudge."""

    user_id: str
    endpoints: int = 0
    attributes: dict[str, Attribute] = field(default_factory=dict)
    location_attributes: dict[str, Attribute] = field(default_factory=dict)
    location: LastLocation | None = None
    devices: list[Device] = field(default_factory=list)
    needs_reregistration: int = 0
    opted_out: bool = False
    skipped: dict[str, int] = field(default_factory=dict)  # reason -> endpoints
    latest_at: int = 0


def plan_users(endpoints: Iterable[EndpointResponse], now: int) -> list[UserPlan]:
    """Group endpoints by user and plan each user; the result does not depend on their order."""
    by_user: dict[str, dict[str, EndpointResponse]] = {}
    for endpoint in endpoints:
        mine = by_user.setdefault(endpoint.user_id, {})
        known = mine.get(endpoint.id)
        if known is None or _rank(endpoint) > _rank(known):
            mine[endpoint.id] = endpoint  # a repeated endpoint: its latest state counts
    return [_plan(user, list(found.values()), now) for user, found in sorted(by_user.items())]


def _rank(endpoint: EndpointResponse) -> tuple[int, str]:
    return endpoint.effective_at, endpoint.model_dump_json()


def _plan(user_id: str, endpoints: Sequence[EndpointResponse], now: int) -> UserPlan:
    plan = UserPlan(user_id=user_id, endpoints=len(endpoints))
    for endpoint in sorted(endpoints, key=lambda e: e.id):
        at = endpoint.effective_at
        plan.latest_at = max(plan.latest_at, at)
        plan.opted_out |= (endpoint.opt_out or "").upper() == "ALL"
        _add_attributes(plan.attributes, _endpoint_attributes(endpoint), at)
        _add_location(plan, endpoint, at)
        channel = (endpoint.channel_type or "").upper()
        reason = _skip_reason(endpoint, channel)
        if reason:
            plan.skipped[reason] = plan.skipped.get(reason, 0) + 1
        elif channel in APNS_CHANNELS:
            plan.needs_reregistration += 1
        else:
            plan.devices.append(_device(user_id, endpoint, now))
    return plan


def _skip_reason(endpoint: EndpointResponse, channel: str) -> str | None:
    if channel != "GCM" and channel not in APNS_CHANNELS:
        return SKIP_REASONS.get(channel, f"unknown channel type {channel or '(none)'!r}")
    if (endpoint.endpoint_status or "ACTIVE").upper() != "ACTIVE":
        return INACTIVE_REASON
    if channel == "GCM" and not _TOKEN.fullmatch(endpoint.address or ""):
        return NO_TOKEN_REASON
    return None


def device_id_of(endpoint_id: str) -> str:
    """The endpoint id when Nudge accepts it as a device id, else a stable hash of it."""
    if _DEVICE_ID.fullmatch(endpoint_id):
        return endpoint_id
    return "pinpoint-" + hashlib.blake2b(endpoint_id.encode(), digest_size=16).hexdigest()


def _device(user_id: str, endpoint: EndpointResponse, now: int) -> Device:
    demographic = endpoint.demographic or EndpointDemographic()
    created = endpoint.creation_date
    return Device(
        user_id=user_id,
        device_id=device_id_of(endpoint.id),
        token=endpoint.address or "",
        platform=_platform(demographic.platform) or "android",
        app_version=(demographic.app_version or None) and demographic.app_version[:32],
        locale=_locale(demographic.locale),
        timezone=_zone(demographic.timezone),
        push_enabled=True,
        created_at=int(created.timestamp()) if created else now,
        updated_at=now,
    )


def same_device(a: Device, b: Device) -> bool:
    """Equal but for the registration times: such a device need not be written again."""
    times = {"created_at", "updated_at"}
    return a.model_dump(exclude=times) == b.model_dump(exclude=times)


def _platform(text: str | None) -> Platform | None:
    known: dict[str, Platform] = {"android": "android", "ios": "ios", "web": "web", "ipados": "ios"}
    return known.get((text or "").strip().lower())


def _locale(text: str | None) -> str | None:
    return text if text and len(text) <= 35 and _LOCALE.fullmatch(text) else None


def _zone(text: str | None) -> str | None:
    try:
        return check_timezone(text or None)
    except ValueError:
        return None  # an offset or an unknown name: no zone rather than a wrong one


def _endpoint_attributes(endpoint: EndpointResponse) -> dict[str, AttributeValue]:
    """Custom attributes first (endpoint, then user, then metrics), the facts over them."""
    values: dict[str, AttributeValue] = {}
    for source in (endpoint.attributes, (endpoint.user or EndpointUser()).user_attributes):
        for name, items in sorted(source.items()):
            kept = [item for item in items if item != ""]
            if kept:
                values[attribute_name(name)] = ",".join(kept)
    for name, number in sorted(endpoint.metrics.items()):
        values[attribute_name(name)] = int(number) if float(number).is_integer() else number
    demographic = endpoint.demographic or EndpointDemographic()
    country = ((endpoint.location.country if endpoint.location else None) or "").strip()
    facts: dict[str, AttributeValue | None] = {
        "country": country.upper() or None,
        "locale": _locale(demographic.locale),
        "timezone": _zone(demographic.timezone),
        "platform": _platform(demographic.platform)
        or ("android" if (endpoint.channel_type or "").upper() == "GCM" else None),
        "app_version": demographic.app_version or None,
        COHORT_ATTRIBUTE: endpoint.cohort_id,
    }
    for name in FACTS:
        values.pop(name, None)
    values.update({name: value for name, value in facts.items() if value is not None})
    return values


def attribute_name(name: str) -> str:
    """A Pinpoint attribute name as a Nudge attribute key (letters, digits, _ . -; 64 chars)."""
    return _ATTRIBUTE_NAME.sub("_", name.strip())[:64] or "_"


def _add_attributes(into: dict[str, Attribute], values: dict[str, AttributeValue], at: int) -> None:
    for name, value in values.items():
        if isinstance(value, str):
            value = value[:MAX_ATTRIBUTE_CHARS]
        _offer(into, name, Attribute(value=value, at=at))


def _offer(into: dict[str, Attribute], name: str, candidate: Attribute) -> bool:
    """Last writer wins by time, ties by the larger value (as `user_attributes` events)."""
    current = into.get(name)
    if current is None or (candidate.at, str(candidate.value)) > (current.at, str(current.value)):
        into[name] = candidate
        return True
    return False


def _add_location(plan: UserPlan, endpoint: EndpointResponse, at: int) -> None:
    where = endpoint.location
    if where is None:
        return
    for name in LOCATION_FACTS:
        value = (getattr(where, name) or "").strip()
        if value:
            _offer(plan.location_attributes, name, Attribute(value=value[:100], at=at))
    if where.latitude is not None and where.longitude is not None:
        found = LastLocation(lat=round(where.latitude, 3), lng=round(where.longitude, 3), at=at)
        current = plan.location
        if current is None or (found.at, found.lat, found.lng) > (
            current.at,
            current.lat,
            current.lng,
        ):
            plan.location = found


# --- onto the profile ------------------------------------------------------------------


@dataclass
class ProfileMerge:
    profile: Profile
    changed: bool
    dropped: list[str]  # attributes left out: the profile had MAX_ATTRIBUTES already


def merge_profile(current: Profile | None, plan: UserPlan, location_allowed: bool) -> ProfileMerge:
    """The profile with the plan's attributes (and location, when allowed) folded in.

    `changed` is False when nothing would change: then nothing needs writing."""
    profile = (
        current.model_copy(deep=True) if current is not None else Profile(user_id=plan.user_id)
    )
    offered = dict(plan.attributes)
    if location_allowed:
        offered.update(plan.location_attributes)
    changed, dropped = False, []
    for name in sorted(offered, key=lambda n: (n not in FACTS, n)):  # facts first under the cap
        if name not in profile.attributes and len(profile.attributes) >= MAX_ATTRIBUTES:
            dropped.append(name)
            continue
        changed |= _offer(profile.attributes, name, offered[name])
    found = plan.location if location_allowed else None
    if found is not None and (profile.location is None or found.at > profile.location.at):
        profile.location, changed = found, True
    return ProfileMerge(profile=profile, changed=changed, dropped=dropped)
