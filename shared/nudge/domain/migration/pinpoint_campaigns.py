"""Pinpoint campaign and segment definitions -> Nudge campaign and segment YAML data (pure).

`convert_campaign` returns `Converted(documents, unconverted)`: the documents (paths under the
output directory -> the data to write as YAML) and every Pinpoint field that could not be
carried over, each with its reason. What is read is tracked (pinpoint_reading.Reader), so a
field this code does not know about is reported too, never silently lost. Campaigns are always
written as drafts: a dropped condition makes an audience wider, and a person should look first.

Mapping (docs/migrate-from-pinpoint.md has the full table): HoldoutPercent -> holdout_pct;
the treatments -> weighted variants; Limits Daily/Total/MaximumDuration -> cooldown,
max_per_user, ttl; Schedule -> a cron schedule (each user's local time with IsLocalTime) or an
event trigger with property filters; QuietTime -> a send window (its complement).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple

from nudge.domain.config import EngagementConfig
from nudge.domain.migration.pinpoint_endpoints import COHORT_ATTRIBUTE
from nudge.domain.migration.pinpoint_events import (
    PURCHASE,
    PURCHASE_FIELDS,
    RESERVED,
    SESSION_START,
)
from nudge.domain.migration.pinpoint_messages import variants_of
from nudge.domain.migration.pinpoint_reading import (
    PinpointFormatError,
    Reader,
    Unconverted,
    join,
)
from nudge.domain.migration.pinpoint_segments import convert_segment, metric_test, slug, unique

# Reserved event types and purchase fields: the PutEvents ingest's (pinpoint_events), so a
# converted trigger waits for the very name the ingest gives the event.
_DEFAULTS = EngagementConfig()
RESERVED_EVENTS = {
    SESSION_START: _DEFAULTS.session_event,
    PURCHASE: _DEFAULTS.purchase_events[0],
    **RESERVED,
}
_OTHER_CHANNEL = "Nudge sends push notifications only: this channel is not converted"
CAMPAIGN_REASONS = {
    "Description": "Nudge campaigns have no description field",
    "TreatmentDescription": "Nudge variants have no description field",
    "Hook": "Lambda hooks (custom segments, personalisation) have no Nudge equivalent",
    "CustomDeliveryConfiguration": "custom (Lambda or webhook) delivery is not a Nudge channel",
    "tags": "Nudge campaigns have no tags",
    "Tags": "Nudge campaigns have no tags",
    "Priority": "Pinpoint's in-app display priority; Nudge's priority (0-100, higher wins a "
    "contested slot) is left at 0",
    "ADMMessage": "Amazon Device Messaging devices are not reachable through FCM",
    "BaiduMessage": "Baidu Cloud Push devices are not reachable through FCM",
    "EmailMessage": _OTHER_CHANNEL,
    "SMSMessage": _OTHER_CHANNEL,
    "CustomMessage": _OTHER_CHANNEL,
    "InAppMessage": _OTHER_CHANNEL,
    "EmailTemplate": _OTHER_CHANNEL,
    "SMSTemplate": _OTHER_CHANNEL,
    "VoiceTemplate": _OTHER_CHANNEL,
    "InAppTemplate": _OTHER_CHANNEL,
    "ImageIconUrl": "notification icons come from the app's FCM settings",
    "ImageSmallIconUrl": "notification icons come from the app's FCM settings",
    "JsonBody": "raw payloads are not sent: Nudge builds the FCM message itself",
    "RawContent": "raw payloads are not sent: Nudge builds the FCM message itself",
    "SilentPush": "silent (data-only) pushes are not a Nudge campaign feature",
    "MediaUrl": "media attachments other than ImageUrl are not sent",
}
WRAPPERS = ("CampaignResponse", "WriteCampaignRequest", "SegmentResponse", "WriteSegmentRequest")
FREQUENCIES = ("ONCE", "HOURLY", "DAILY", "WEEKLY", "MONTHLY", "EVENT")
MIN_TTL_S, MAX_TTL_S = 60, 28 * 86_400  # DeliveryRules.ttl's bounds
MAX_SENDS = 1000  # DeliveryRules.max_per_user's bound
_OFFSET = re.compile(r"^UTC(?:([+-])(\d{2})(?::?(\d{2}))?)?$")
_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_EVENT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")
_PROPERTY_KEY = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class Converted(NamedTuple):
    documents: dict[str, dict[str, Any]]  # path under the output directory -> YAML data
    unconverted: list[Unconverted]


def unwrap(source: str, data: Any) -> dict[str, Any]:
    """The definition itself, also when it is the AWS CLI's `{"CampaignResponse": {...}}`."""
    if not isinstance(data, dict):
        raise PinpointFormatError(source, "", "expected a JSON object at the top")
    if len(data) == 1 and next(iter(data)) in WRAPPERS:
        key, inner = next(iter(data.items()))
        if not isinstance(inner, dict):
            raise PinpointFormatError(source, key, "expected an object")
        return inner
    return data


def convert_campaign(
    campaign: Any, segments: Sequence[tuple[str, Any]] = (), source: str = "campaign"
) -> Converted:
    """One Pinpoint campaign and the segments given with it, as Nudge YAML documents."""
    readers = [Reader(name, unwrap(name, data)) for name, data in segments]
    names_by_id: dict[str, str] = {}
    named: dict[str, dict[str, Any]] = {}
    for reader in readers:  # ids first: a segment group may refer to a later file
        segment_id = reader.document.get("Id")
        name = slug(str(reader.document.get("Name") or ""), 64) or slug(
            f"pinpoint-{segment_id}", 64
        )
        if isinstance(segment_id, str):
            names_by_id[segment_id] = unique(name, set(names_by_id.values()))
    for reader in readers:
        name, segment = convert_segment(reader, names_by_id)
        key = names_by_id.get(str(reader.document.get("Id"))) or unique(name, set(named))
        named[key] = segment
    reader = Reader(source, unwrap(source, campaign), dict(CAMPAIGN_REASONS))
    document = _campaign(reader, names_by_id)
    unconverted = []
    for each in [*readers, reader]:
        each.leftovers()
        unconverted += each.unconverted
    documents: dict[str, dict[str, Any]] = {}
    campaign_id = document["id"] if document else slug(str(reader.document.get("Name")), 64)
    if named:
        documents[f"segments/{f'pinpoint-{campaign_id}'[:64].rstrip('-_')}.yaml"] = {
            "segments": named
        }
    if document is not None:
        documents[f"campaigns/{campaign_id}.yaml"] = document
    return Converted(documents, unconverted)


def _campaign(reader: Reader, names_by_id: dict[str, str]) -> dict[str, Any] | None:
    doc = reader.document
    name = (reader.get(doc, "Name", "", "a string") or "").strip()
    if not name:
        raise PinpointFormatError(reader.source, "Name", "missing: a campaign needs a name")
    fallback = f"pinpoint-{doc.get('Id')}" if isinstance(doc.get("Id"), str) else "pinpoint"
    out: dict[str, Any] = {"id": slug(name, 64) or slug(fallback, 64), "name": name[:200]}
    if len(name) > 200:
        reader.report("Name", "longer than Nudge's 200 characters: cut")
    out |= {"category": "marketing", "status": "draft"}
    if reader.get(doc, "IsPaused", "", "true or false") is False:
        reader.report(
            "IsPaused", "converted campaigns are drafts: set status: active once reviewed"
        )
    trigger, window = _schedule(reader, reader.mapping(doc, "Schedule", ""))
    out["trigger"] = trigger
    out["audience"] = _audience(reader, names_by_id)
    holdout = reader.get(doc, "HoldoutPercent", "", "a number") or 0
    if not 0 <= holdout <= 100:
        raise PinpointFormatError(reader.source, "HoldoutPercent", "must be from 0 to 100")
    variants, ttls = variants_of(reader, name, holdout)
    out["variants"] = variants
    if holdout > 50:
        reader.report("HoldoutPercent", f"{holdout}% is above Nudge's most (50%): set to 50")
    if holdout:
        out["holdout_pct"] = min(holdout, 50)
    # imported users keep Pinpoint's cohort: holdout and variants by cohort, as they were
    out["cohort_attribute"] = COHORT_ATTRIBUTE
    out["delivery"] = _delivery(reader, ttls, window)
    return out if trigger is not None else None


def _audience(reader: Reader, names_by_id: dict[str, str]) -> dict[str, Any]:
    segment_id = reader.get(reader.document, "SegmentId", "", "a string")
    if segment_id is None:
        raise PinpointFormatError(reader.source, "SegmentId", "missing: a campaign needs one")
    if segment_id in names_by_id:
        return {"segment": names_by_id[segment_id]}
    name = slug(f"pinpoint-{segment_id}", 64)
    reader.report(
        "SegmentId",
        f"segment {segment_id!r} was not given (--segment SEGMENT.json): the audience names "
        f"segment {name!r}, which you still have to write",
    )
    return {"segment": name}


# --- schedule -----------------------------------------------------------------------------


def _schedule(
    reader: Reader, schedule: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, str] | None]:
    """(the trigger, or None when Nudge has none for it; the send window of QuietTime)."""
    if not schedule:
        raise PinpointFormatError(reader.source, "Schedule", "missing: a campaign needs one")
    path = "Schedule"
    frequency = reader.get(schedule, "Frequency", path, "a string") or "ONCE"
    if frequency not in FREQUENCIES:
        raise PinpointFormatError(reader.source, "Schedule.Frequency", f"one of {FREQUENCIES}")
    local = bool(reader.get(schedule, "IsLocalTime", path, "true or false"))
    offset = _offset(reader, reader.get(schedule, "Timezone", path, "a string"))
    start_text = reader.get(schedule, "StartTime", path, "a string")
    if start_text is None:
        raise PinpointFormatError(reader.source, "Schedule.StartTime", "missing")
    end_text = reader.get(schedule, "EndTime", path, "a string")
    window = _send_window(reader, reader.mapping(schedule, "QuietTime", path))
    if end_text is not None:
        reader.report(
            "Schedule.EndTime",
            f"Nudge campaigns run while active: archive it at {end_text} (nudge campaign archive)",
        )
    if frequency == "EVENT":
        if start_text != "IMMEDIATE":
            reader.report("Schedule.StartTime", f"activate the campaign at {start_text}")
        return _event_trigger(reader, reader.mapping(schedule, "EventFilter", path)), window
    if reader.mapping(schedule, "EventFilter", path):
        reader.report("Schedule.EventFilter", f"ignored, as in Pinpoint: Frequency is {frequency}")
    if start_text == "IMMEDIATE":
        why = (
            "an immediate send is a broadcast in Nudge (nudge broadcast --segment NAME "
            "--template ID --dedupe-key K)"
            if frequency == "ONCE"
            else f"IMMEDIATE gives a {frequency} schedule no clock time to repeat at"
        )
        reader.report("Schedule.StartTime", f"{why}: no campaign written")
        return None, window
    wall = _wall_clock(reader, start_text, local, offset)
    cron = cron_of(frequency, wall)
    if frequency == "ONCE":
        reader.report(
            "Schedule.Frequency",
            f"ONCE: the schedule fires on {wall:%d %B} each year and max_per_user is 1: "
            "archive the campaign after it ran, or send a broadcast instead",
        )
    else:
        reader.report(
            "Schedule.StartTime",
            f"Nudge schedules have no start date: the first send is the first slot after you "
            f"activate it (Pinpoint's first was {start_text})",
        )
    if frequency == "MONTHLY" and wall.day > 28:
        reader.report("Schedule.StartTime", f"cron skips months without a day {wall.day}")
    return {"schedule": {"cron": cron, "local_time": local}}, window


def cron_of(frequency: str, wall: datetime) -> str:
    """The cron expression that fires at `wall`'s clock time at Pinpoint's frequency."""
    minute, hour, day, month = wall.minute, wall.hour, wall.day, wall.month
    weekday = (wall.weekday() + 1) % 7  # cron: 0 is Sunday
    return {
        "ONCE": f"{minute} {hour} {day} {month} *",
        "HOURLY": f"{minute} * * * *",
        "DAILY": f"{minute} {hour} * * *",
        "WEEKLY": f"{minute} {hour} * * {weekday}",
        "MONTHLY": f"{minute} {hour} {day} * *",
    }[frequency]


def _offset(reader: Reader, text: str | None) -> timezone | None:
    if text is None:
        return None
    match = _OFFSET.match(text.strip())
    if match is None:
        raise PinpointFormatError(reader.source, "Schedule.Timezone", "expected UTC, UTC+05:30 ...")
    sign, hours, minutes = match.groups()
    delta = timedelta(hours=int(hours or 0), minutes=int(minutes or 0))
    return timezone(-delta if sign == "-" else delta)


def _wall_clock(reader: Reader, text: str, local: bool, offset: timezone | None) -> datetime:
    """The clock time the cron names: in UTC, or (IsLocalTime) the time every user gets."""
    try:
        start = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise PinpointFormatError(
            reader.source, "Schedule.StartTime", f"{text!r} is not an ISO 8601 time"
        ) from None
    if local:  # Timezone is the offset StartTime's clock time is meant in
        if start.tzinfo is not None and offset is not None:
            start = start.astimezone(offset)
        return start.replace(tzinfo=None)
    if start.tzinfo is None:
        start = start.replace(tzinfo=offset or UTC)
    return start.astimezone(UTC).replace(tzinfo=None)


def _send_window(reader: Reader, quiet: dict[str, Any]) -> dict[str, str] | None:
    """QuietTime 22:00-07:00 -> sends allowed 07:00-22:00 in the user's time."""
    if not quiet:
        return None
    start = reader.get(quiet, "Start", "Schedule.QuietTime", "a string")
    end = reader.get(quiet, "End", "Schedule.QuietTime", "a string")
    for key, value in (("Start", start), ("End", end)):
        if value is None or not _CLOCK.match(value):
            raise PinpointFormatError(reader.source, f"Schedule.QuietTime.{key}", "expected HH:MM")
    if start == end:
        reader.report("Schedule.QuietTime", "start and end are equal: no quiet time")
        return None
    return {"start": end, "end": start}


def event_name(reader: Reader, pinpoint: str, where: str) -> str | None:
    """Nudge's name for a Pinpoint event type, as the PutEvents ingest names it (or None)."""
    name = RESERVED_EVENTS.get(pinpoint)
    if name is None and pinpoint.startswith("_"):
        name = pinpoint[1:]  # as the ingest does with other reserved types
        reader.report(
            where,
            f"Pinpoint sent {pinpoint!r} itself: the trigger waits for {name!r}, which only "
            "arrives if the app sends it",
        )
    if not _EVENT_NAME.match(name or pinpoint):
        reader.report(where, f"{pinpoint!r} is not a Nudge event name: no campaign written")
        return None
    return name or pinpoint


def _event_trigger(reader: Reader, event_filter: dict[str, Any]) -> dict[str, Any] | None:
    path = "Schedule.EventFilter"
    if not event_filter:
        raise PinpointFormatError(reader.source, path, "missing: Frequency EVENT needs one")
    reader.get(event_filter, "FilterType", path, "a string")  # the event's name says it all
    path = join(path, "Dimensions")
    dims = reader.mapping(event_filter, "Dimensions", "Schedule.EventFilter")
    types = reader.mapping(dims, "EventType", path)
    kind = reader.get(types, "DimensionType", join(path, "EventType"), "a string")
    values = reader.strings(types, "Values", join(path, "EventType"))
    if kind == "EXCLUSIVE" or not values:
        reader.report(
            join(path, "EventType"),
            "Nudge triggers on a named event (not 'any but'): no campaign written",
        )
        return None
    name = event_name(reader, values[0], join(path, "EventType.Values[0]"))
    if name is None:
        return None
    if len(values) > 1:
        reader.report(
            join(path, "EventType.Values"),
            f"Nudge triggers on one event: {values[1:]} need copies of this campaign",
        )
    where: dict[str, Any] = {}
    for key, test in reader.entries(dims, "Attributes", path):
        at = join(join(path, "Attributes"), key)
        test_kind = reader.get(test, "AttributeType", at, "a string") or "INCLUSIVE"
        test_values = reader.strings(test, "Values", at)
        prop = _property(reader, name, key, at)
        if prop is not None and test_kind == "INCLUSIVE" and test_values:
            where[prop] = test_values
        elif prop is not None:
            why = (
                f"{test_kind} tests on event properties" if test_values else "a test without values"
            )
            reader.report(at, f"{why}: not in Nudge's event filters")
    for key, test in reader.entries(dims, "Metrics", path):
        at = join(join(path, "Metrics"), key)
        operator = reader.get(test, "ComparisonOperator", at, "a string")
        value = reader.get(test, "Value", at, "a number")
        bound = metric_test(operator or "", float(value)) if value is not None else None
        prop = _property(reader, name, key, at)
        if prop is not None and bound is not None:
            where[prop] = bound
        elif prop is not None:
            reader.report(at, f"comparison {operator!r} with {value!r} not converted")
    event: dict[str, Any] = {"name": name}
    if where:
        event["where"] = where
    return {"event": event}


def _property(reader: Reader, event: str, key: str, at: str) -> str | None:
    purchase = event == RESERVED_EVENTS[PURCHASE]
    name = PURCHASE_FIELDS.get(key, key) if purchase else key
    if not _PROPERTY_KEY.match(name):
        reader.report(at, f"{key!r} is not a valid Nudge property name")
        return None
    return name


# --- delivery ------------------------------------------------------------------------------


def _delivery(reader: Reader, ttls: list[int], window: dict[str, str] | None) -> dict[str, Any]:
    limits = reader.mapping(reader.document, "Limits", "")
    delivery: dict[str, Any] = {}
    daily = reader.get(limits, "Daily", "Limits", "a number")
    if daily is not None:
        every = max(86_400 // int(daily) // 60 * 60, 60) if daily >= 1 else 0  # whole minutes
        delivery["cooldown"] = _duration(every) if every else "0m"
        if daily != 1:
            reader.report(
                "Limits.Daily",
                f"{daily} a day became a cooldown of {delivery['cooldown']} between two sends "
                "to a user: Nudge has a per-user cooldown, not a count per day"
                + (" (0: no limit)" if not every else ""),
            )
    total = reader.get(limits, "Total", "Limits", "a number")
    frequency = reader.document["Schedule"].get("Frequency") or "ONCE"
    if frequency == "ONCE":  # sent once, whatever Total says
        delivery["max_per_user"] = 1
    elif total is not None:
        delivery["max_per_user"] = min(int(total), MAX_SENDS) if total >= 1 else MAX_SENDS
    if total is not None and (total > MAX_SENDS or total < 1) and frequency != "ONCE":
        reader.report("Limits.Total", f"{total} (0: no limit): Nudge's most is {MAX_SENDS}")
    for key, reason in (
        ("Session", "sends per app session (in-app) are not limited by Nudge campaigns"),
        (
            "MessagesPerSecond",
            "Nudge's send rate is the push sender's concurrency, not per campaign",
        ),
    ):
        if reader.get(limits, key, "Limits", "a number") is not None:
            reader.report(join("Limits", key), reason)
    duration = reader.get(limits, "MaximumDuration", "Limits", "a number")
    candidates = [*ttls, *([int(duration)] if duration is not None else [])]
    if len(set(ttls)) > 1:
        reader.report(
            "MessageConfiguration", "the treatments' TimeToLive differ: the shortest is used"
        )
    if candidates:
        seconds = min(max(min(candidates), MIN_TTL_S), MAX_TTL_S)
        if seconds != min(candidates):
            shortest = (
                "Limits.MaximumDuration"
                if duration is not None and int(duration) == min(candidates)
                else "MessageConfiguration.*.TimeToLive"
            )
            reader.report(shortest, f"{min(candidates)}s became {seconds}s (Nudge's ttl bounds)")
        delivery["ttl"] = _duration(seconds)
    if window is not None:
        delivery["send_window"] = window
    return delivery


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86_400), ("h", 3_600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


__all__ = ["Converted", "PinpointFormatError", "Unconverted", "convert_campaign"]
