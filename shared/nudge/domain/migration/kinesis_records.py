"""Kinesis data stream records as Nudge events: Amplify's path after Pinpoint. Pure.

Amplify's Kinesis provider (`record({data, partitionKey, streamName})`) puts each record's
`data` as UTF-8 JSON of whatever the app passed, so Nudge documents which shapes it takes:

- Nudge's own: `{"user_id": ..., "events": [event, ...]}` (1 to 100 events, each as
  POST /v1/events takes it), or one event with its user beside it:
  `{"user_id", "event_id", "name", "timestamp", "properties", "location"}`.
- A Pinpoint event as Amplify apps sent it to PutEvents: `{"EventType", "Timestamp",
  "Attributes", "Metrics", "Session", "Endpoint": {"User": {"UserId"}}}`, keys in PascalCase
  or camelCase, mapped exactly as PutEvents maps it (pinpoint_events.map_event), so reserved
  events (`_session.start`, `_monetization.purchase`, ...) become the same Nudge events.

The user is the record's, as a backend's PutEvents (IAM) takes it: whoever may put records on
the stream is trusted with it. The partition key is never the user (apps often pick random
ones). An event without an id gets one derived from the record (shard, sequence number,
index): Lambda redelivers a record with the same eventID, so a retry is a duplicate the event
processor drops.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from nudge.domain.config import EngagementConfig
from nudge.domain.migration.pinpoint_events import MAX_USER_ID, map_event
from nudge.models.events import MAX_EVENTS_PER_REQUEST
from nudge.models.keys import SYSTEM_PREFIX

_EVENT_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
# a Pinpoint event's fields as camelCase producers write them -> PutEvents' own names
_PINPOINT_KEYS = {
    "eventType": "EventType",
    "timestamp": "Timestamp",
    "attributes": "Attributes",
    "metrics": "Metrics",
    "session": "Session",
    "endpoint": "Endpoint",
    "eventId": "EventId",
}
_SESSION_KEYS = {
    "id": "Id",
    "startTimestamp": "StartTimestamp",
    "stopTimestamp": "StopTimestamp",
    "duration": "Duration",
}
SHAPES = (
    "a Nudge event ({user_id, events: [...]} or {user_id, name, timestamp, ...}) "
    "or a Pinpoint event ({EventType, Timestamp, Endpoint: {User: {UserId}}, ...})"
)


class RecordRefused(ValueError):
    """The record can't be read as events for a user; the message names the field."""


@dataclass(frozen=True)
class RecordEvents:
    """One record's user and events, raw: the ingest validates each as POST /v1/events does."""

    user_id: str
    events: list[Any]


def read_record(record_id: str, data: str, config: EngagementConfig) -> RecordEvents:
    """`record_id`: Lambda's eventID (`shardId-...:<sequence number>`); `data`: base64."""
    body = decode_data(data)
    if not isinstance(body, dict):
        kind = {list: "list", str: "string", bool: "boolean"}.get(type(body), "number")
        raise RecordRefused(f"data: a JSON {'null' if body is None else kind}; expected {SHAPES}")
    if "EventType" in body or "eventType" in body:
        return _pinpoint_event(record_id, body, config)
    if "events" not in body and "name" not in body:
        raise RecordRefused(f"data: expected {SHAPES}")
    user_id = _user(body.get("user_id"), "user_id")
    if "events" in body:
        events = body["events"]
        if not isinstance(events, list) or not events:
            raise RecordRefused("events: must be a list of 1 to 100 events")
        if len(events) > MAX_EVENTS_PER_REQUEST:
            raise RecordRefused(
                f"events: {len(events)} events; at most {MAX_EVENTS_PER_REQUEST} per record"
            )
        extra = sorted(set(body) - {"user_id", "events"})
        if extra:
            raise RecordRefused(f"{extra[0]}: unknown beside user_id and events")
        return RecordEvents(user_id, [_with_id(record_id, i, e) for i, e in enumerate(events)])
    event = {key: value for key, value in body.items() if key != "user_id"}
    return RecordEvents(user_id, [_with_id(record_id, 0, event)])


def decode_data(data: Any) -> Any:
    """The record's payload: base64 of UTF-8 JSON."""
    if not isinstance(data, str) or not data:
        raise RecordRefused("kinesis.data: missing or empty")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise RecordRefused("kinesis.data: not base64") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as error:
        raise RecordRefused(f"data: not UTF-8 (byte {error.start})") from None
    except json.JSONDecodeError as error:
        where = f"line {error.lineno} column {error.colno}"
        raise RecordRefused(f"data: not JSON ({error.msg} at {where})") from None


def derived_event_id(record_id: str, index: int) -> str:
    """The same id for the same record and position on every delivery."""
    candidate = f"kinesis:{record_id}:{index}"
    if _EVENT_ID.fullmatch(candidate):
        return candidate
    return "kinesis." + hashlib.blake2b(candidate.encode(), digest_size=12).hexdigest()


def _with_id(record_id: str, index: int, event: Any) -> Any:
    if isinstance(event, dict) and event.get("event_id") is None:
        return {**event, "event_id": derived_event_id(record_id, index)}
    return event  # not an object, or its own id: the ingest judges it


def _user(value: Any, field: str) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordRefused(f"{field}: required, the user the events are about")
    if not isinstance(value, str):
        raise RecordRefused(f"{field}: must be a string")
    user_id = value.strip()
    if user_id.startswith(SYSTEM_PREFIX):
        raise RecordRefused(f"{field}: {SYSTEM_PREFIX!r} starts reserved keys, not user ids")
    if len(user_id) > MAX_USER_ID:
        raise RecordRefused(f"{field}: longer than {MAX_USER_ID} characters")
    return user_id


def _pinpoint_event(record_id: str, body: dict[str, Any], config: EngagementConfig) -> RecordEvents:
    event = {_PINPOINT_KEYS.get(key, key): value for key, value in body.items()}
    if isinstance(event.get("Session"), dict):
        event["Session"] = {_SESSION_KEYS.get(k, k): v for k, v in event["Session"].items()}
    endpoint = event.pop("Endpoint", None)
    user = endpoint.get("User", endpoint.get("user")) if isinstance(endpoint, dict) else None
    named = user.get("UserId", user.get("userId")) if isinstance(user, dict) else None
    user_id = _user(named, "Endpoint.User.UserId")
    given_id = event.pop("EventId", None)
    event_id = given_id if isinstance(given_id, str) and given_id else None
    try:
        mapped = map_event(event_id or derived_event_id(record_id, 0), event, config)
    except ValueError as error:
        raise RecordRefused(str(error)) from None
    return RecordEvents(user_id, [mapped.model_dump(mode="json", exclude_none=True)])
