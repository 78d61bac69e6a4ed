"""Pinpoint's PutEvents request mapped onto Nudge events and devices. Pure.

`POST /v1/apps/{app_id}/events` takes Pinpoint's `EventsRequest`:
`{"BatchItem": {endpointId: {"Endpoint": {...}, "Events": {eventId: {...}}}}}`. Each event
becomes one Nudge event (`IncomingEvent`), each `GCM` endpoint a device registration; what
can't be used is refused on its own, with a message naming the Pinpoint field, so the valid
rest of a request is never lost.

Whose events: an app's, the JWT subject (whatever `Endpoint.User.UserId` says); a backend's
(IAM), `Endpoint.User.UserId`, or without one the anonymous `pinpoint:<endpoint id>` user the
endpoint import uses (pinpoint_endpoints.py), so imported and ingested data meet.

Reserved event types map onto Nudge's own names (RESERVED); a purchase is worth
`_item_price x _quantity` in the config's amount property; custom types keep their name,
with `Attributes` and `Metrics` as properties and the `Session` as `session_*` properties.
"""

from __future__ import annotations

import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from nudge.domain.config import EngagementConfig
from nudge.domain.migration.pinpoint_endpoints import ANONYMOUS_PREFIX, device_id_of
from nudge.domain.profiles.ingest import describe_validation_error
from nudge.models.device import DeviceRegistration
from nudge.models.events import MAX_EVENTS_PER_REQUEST, IncomingEvent, IngestResult
from nudge.models.keys import SYSTEM_PREFIX

MAX_USER_ID = 256  # as the events queue accepts (QueuedBatch.user_id)
APNS_CHANNELS = frozenset({"APNS", "APNS_SANDBOX", "APNS_VOIP"})
REREGISTER = (
    "{channel} tokens are APNs device tokens, which FCM cannot use: the app re-registers "
    "this install with its FCM token through PUT /v1/devices/{{device_id}}"
)
# Pinpoint's reserved event types -> Nudge's names (purchase and session names from config)
SESSION_START, PURCHASE, OPENED = (
    "_session.start",
    "_monetization.purchase",
    "_campaign.opened_notification",
)
RESERVED = {
    "_session.stop": "session_end",
    "_session.pause": "session_pause",
    "_session.resume": "session_resume",
    "_userauth.sign_up": "signup_completed",  # the name Nudge's onboarding campaign waits for
    "_userauth.sign_in": "sign_in",
    "_userauth.auth_fail": "sign_in_failed",
    OPENED: "push_opened",
}
# the purchase's reserved attributes and metrics, under plain property names
PURCHASE_FIELDS = {
    "_product_id": "product_id",
    "_currency": "currency",
    "_store": "store",
    "_transaction_id": "transaction_id",
    "_item_price": "item_price",
    "_quantity": "quantity",
}
# how the app names the Nudge push it opened (the job id in the push's data)
OPENED_MESSAGE_ATTRIBUTES = ("message_id", "job_id")
SESSION_FIELDS = {
    "Id": "session_id",
    "StartTimestamp": "session_start_at",
    "StopTimestamp": "session_stop_at",
    "Duration": "session_duration_ms",
}
# Nudge's field -> the Pinpoint field it came from, for error messages
EVENT_FIELDS = {
    "event_id": "event id",
    "name": "EventType",
    "timestamp": "Timestamp",
    "properties": "Attributes/Metrics",
}
DEVICE_FIELDS = {
    "token": "Endpoint.Address",
    "platform": "Endpoint.Demographic.Platform",
    "app_version": "Endpoint.Demographic.AppVersion",
    "locale": "Endpoint.Demographic.Locale",
    "timezone": "Endpoint.Demographic.Timezone",
}
_EVENT_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.\-]{0,63}$")


class RequestRefused(ValueError):
    """The request as a whole is unusable (400); the message names the field."""


@dataclass(frozen=True)
class EventRef:
    endpoint_id: str
    event_id: str  # the key in the request's `Events`


@dataclass(frozen=True)
class ItemAnswer:
    status: int  # 202 or 400 (503: retry)
    message: str


@dataclass(frozen=True)
class DevicePlan:
    user_id: str
    device_id: str
    registration: DeviceRegistration
    ignored: tuple[str, ...] = ()  # invalid facts left out (the endpoint's answer says which)
    # the facts the endpoint named; the others keep the stored device's values (Pinpoint
    # updated what an endpoint named: a batch with only the token wipes nothing)
    given: frozenset[str] = frozenset(DEVICE_FIELDS) | {"push_enabled"}


@dataclass
class MappedRequest:
    """Per user, the Nudge events to ingest; per endpoint, what to do with its device."""

    events: dict[str, list[tuple[EventRef, IncomingEvent]]] = field(default_factory=dict)
    refused: dict[EventRef, ItemAnswer] = field(default_factory=dict)
    devices: dict[str, DevicePlan] = field(default_factory=dict)
    endpoints: dict[str, ItemAnswer] = field(default_factory=dict)  # answered already
    order: list[tuple[str, list[str]]] = field(default_factory=list)  # endpoints, their events


def map_request(body: Any, caller: str | None, config: EngagementConfig) -> MappedRequest:
    """`caller`: the JWT subject; None for a backend (the user comes from the endpoint)."""
    if not isinstance(body, dict) or not isinstance(body.get("BatchItem"), dict):
        raise RequestRefused("BatchItem: required, an object of endpoint id -> item")
    items: dict[str, Any] = body["BatchItem"]
    if not items:
        raise RequestRefused("BatchItem: empty; send at least one endpoint")
    total = sum(
        len(i["Events"])
        for i in items.values()
        if isinstance(i, dict) and isinstance(i.get("Events"), dict)
    )
    if total > MAX_EVENTS_PER_REQUEST:
        raise RequestRefused(
            f"BatchItem: {total} events; at most {MAX_EVENTS_PER_REQUEST} per request"
        )
    mapped = MappedRequest()
    for endpoint_id, item in items.items():
        _map_item(mapped, endpoint_id, item, caller, config)
    return mapped


def _map_item(
    mapped: MappedRequest, endpoint_id: str, item: Any, caller: str | None, config: EngagementConfig
) -> None:
    raw_events = item.get("Events") if isinstance(item, dict) else None
    event_ids = list(raw_events) if isinstance(raw_events, dict) else []
    mapped.order.append((endpoint_id, event_ids))
    problem = _item_problem(item, raw_events)
    endpoint = item.get("Endpoint") if isinstance(item, dict) else None
    user_id, user_problem = _user_of(endpoint_id, endpoint, caller)
    problem = problem or user_problem
    if problem:  # nobody to give the events to: each one is answered with why
        mapped.endpoints[endpoint_id] = ItemAnswer(400, problem)
        for event_id in event_ids:
            mapped.refused[EventRef(endpoint_id, event_id)] = ItemAnswer(400, problem)
        return
    assert user_id is not None
    mapped.endpoints[endpoint_id], plan = _endpoint(endpoint_id, endpoint, user_id)
    if plan is not None:
        mapped.devices[endpoint_id] = plan
    for event_id, raw in (raw_events if isinstance(raw_events, dict) else {}).items():
        ref = EventRef(endpoint_id, event_id)
        try:
            event = map_event(event_id, raw, config)
        except ValueError as error:
            mapped.refused[ref] = ItemAnswer(400, str(error))
            continue
        mapped.events.setdefault(user_id, []).append((ref, event))


def _item_problem(item: Any, raw_events: Any) -> str | None:
    if not isinstance(item, dict):
        return "BatchItem entry: must be an object with Endpoint and Events"
    if "Events" in item and raw_events is not None and not isinstance(raw_events, dict):
        return "Events: must be an object of event id -> event"
    if item.get("Endpoint") is not None and not isinstance(item["Endpoint"], dict):
        return "Endpoint: must be an object"
    return None


def anonymous_user(endpoint_id: str) -> str:
    return f"{ANONYMOUS_PREFIX}{endpoint_id}"


def _user_of(endpoint_id: str, endpoint: Any, caller: str | None) -> tuple[str | None, str | None]:
    """(user id, None) or (None, why not)."""
    if caller is not None:
        return caller, None  # the app's token decides, never the body
    user = endpoint.get("User") if isinstance(endpoint, dict) else None
    named = user.get("UserId") if isinstance(user, dict) else None
    if named is not None and not isinstance(named, str):
        return None, "Endpoint.User.UserId: must be a string"
    user_id = (named or "").strip() or anonymous_user(endpoint_id)
    if user_id.startswith(SYSTEM_PREFIX):
        return None, f"Endpoint.User.UserId: {SYSTEM_PREFIX!r} starts reserved keys, not user ids"
    if len(user_id) > MAX_USER_ID:
        return None, f"Endpoint.User.UserId: longer than {MAX_USER_ID} characters"
    return user_id, None


def _endpoint(
    endpoint_id: str, endpoint: dict[str, Any] | None, user_id: str
) -> tuple[ItemAnswer, DevicePlan | None]:
    if not endpoint:
        return ItemAnswer(202, "Accepted (no Endpoint: no device change)"), None
    channel = endpoint.get("ChannelType")
    address = endpoint.get("Address")
    if channel is None and address is None:
        return ItemAnswer(202, "Accepted (no ChannelType or Address: no device change)"), None
    if isinstance(channel, str) and channel in APNS_CHANNELS:  # any JSON may come here
        return ItemAnswer(400, REREGISTER.format(channel=channel)), None
    if channel != "GCM":
        return ItemAnswer(
            400, f"Endpoint.ChannelType: {str(channel)[:20]!r} is not a push channel Nudge "
            "sends on; only GCM (an FCM token in Address) updates a device"
        ), None  # fmt: skip
    return _registration(endpoint_id, endpoint, user_id)


def _registration(
    endpoint_id: str, endpoint: dict[str, Any], user_id: str
) -> tuple[ItemAnswer, DevicePlan | None]:
    demographic = endpoint.get("Demographic")
    demographic = demographic if isinstance(demographic, dict) else {}
    facts: dict[str, Any] = {
        "token": endpoint.get("Address"),
        "platform": _platform(platform) if (platform := demographic.get("Platform")) else None,
        "app_version": demographic.get("AppVersion"),
        "locale": demographic.get("Locale"),
        "timezone": demographic.get("Timezone"),
        # Amplify sets OptOut ALL while the OS permission for notifications is off
        "push_enabled": endpoint["OptOut"] != "ALL" if endpoint.get("OptOut") else None,
    }
    facts = {key: value for key, value in facts.items() if value is not None}
    given = frozenset(facts)  # the others keep what the stored device says
    facts = {"platform": "android", "push_enabled": True} | facts  # a new device's defaults
    ignored: list[str] = []
    for _ in range(len(DEVICE_FIELDS)):
        try:
            registration = DeviceRegistration.model_validate(facts)
        except ValidationError as error:
            failed = {str(e["loc"][0]) for e in error.errors() if e["loc"]}
            if failed & {"token", "platform"} or not failed:
                message = _renamed(describe_validation_error(error), DEVICE_FIELDS)
                return ItemAnswer(400, message), None
            for name in sorted(failed):  # a bad optional fact is left out, not the token
                ignored.append(f"{DEVICE_FIELDS.get(name, name)} ignored (invalid)")
                facts.pop(name, None)
            continue
        device_id = device_id_of(endpoint_id)
        plan = DevicePlan(user_id, device_id, registration, tuple(ignored), given & facts.keys())
        note = f"; {', '.join(ignored)}" if ignored else ""
        return ItemAnswer(202, f"Accepted: device {device_id}{note}"), plan
    return ItemAnswer(400, "Endpoint: could not be read as a device"), None


def _platform(value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    return text if text in ("ios", "web") else "android"  # GCM is FCM: Android unless told


def map_event(event_id: str, raw: Any, config: EngagementConfig) -> IncomingEvent:
    """One Pinpoint event as a Nudge event; ValueError naming the Pinpoint field."""
    if not isinstance(raw, dict):
        raise ValueError("event: must be an object with EventType and Timestamp")
    event_type = raw.get("EventType")
    if not isinstance(event_type, str) or not event_type:
        raise ValueError("EventType: required, a string")
    attributes = _flat(raw, "Attributes", (str, int, float, bool))
    metrics = _flat(raw, "Metrics", (int, float))
    for key, value in metrics.items():
        if isinstance(value, bool) or not math.isfinite(value):
            raise ValueError(f"Metrics.{key}: must be a finite number")
    clash = sorted(attributes.keys() & metrics.keys())
    if clash:
        raise ValueError(f"Attributes.{clash[0]}: also in Metrics; one name, one value")
    name, properties = _translate(event_type, attributes, metrics, config)
    session = raw.get("Session")
    if session is not None and not isinstance(session, dict):
        raise ValueError("Session: must be an object")
    for key, prop in SESSION_FIELDS.items():
        value = (session or {}).get(key)
        if value is not None:
            properties[prop] = value
    candidate = {
        "event_id": event_id if _EVENT_ID.fullmatch(event_id) else _stable_id(event_id),
        "name": name,
        "timestamp": raw.get("Timestamp"),
        "properties": properties,
    }
    try:
        return IncomingEvent.model_validate(candidate)
    except ValidationError as error:
        raise ValueError(_renamed(describe_validation_error(error), EVENT_FIELDS)) from None


def _flat(raw: dict[str, Any], key: str, kinds: tuple[type, ...]) -> dict[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValueError(f"{key}: must be an object of name -> value")
    for name, item in value.items():
        if not isinstance(item, kinds):
            kind = "a number" if key == "Metrics" else "a string"
            raise ValueError(f"{key}.{name[:64]}: must be {kind}")
    return value


def _translate(
    event_type: str, attributes: dict[str, Any], metrics: dict[str, Any], config: EngagementConfig
) -> tuple[str, dict[str, Any]]:
    """Nudge's name for the event and its properties."""
    properties = {**attributes, **metrics}
    if event_type == SESSION_START:
        return config.session_event, properties
    if event_type == PURCHASE:
        return config.purchase_events[0], _purchase(properties, config)
    if event_type == OPENED:
        for key in OPENED_MESSAGE_ATTRIBUTES:
            if isinstance(properties.get(key), str):
                properties["message_id"] = properties.pop(key)
                break
    if event_type in RESERVED:
        return RESERVED[event_type], properties
    # other reserved types (_email.*, _custom...) keep their name without the underscore
    name = event_type[1:] if event_type.startswith("_") else event_type
    if not _NAME.fullmatch(name):
        raise ValueError(
            f"EventType: {event_type[:64]!r} is not a Nudge event name (a letter, then "
            "letters, digits, _ . or -, up to 64)"
        )
    return name, properties


def _purchase(properties: dict[str, Any], config: EngagementConfig) -> dict[str, Any]:
    price = properties.get("_item_price")
    if not isinstance(price, int | float) or isinstance(price, bool):
        raise ValueError("Metrics._item_price: required for _monetization.purchase, a number")
    quantity = properties.get("_quantity", 1)
    if not isinstance(quantity, int | float) or isinstance(quantity, bool) or quantity < 0:
        raise ValueError("Metrics._quantity: must be a number, 0 or more")
    renamed = {PURCHASE_FIELDS.get(key, key): value for key, value in properties.items()}
    renamed["quantity"] = quantity
    renamed[config.purchase_amount_property] = round(price * quantity, 4)
    return renamed


def _stable_id(event_id: str) -> str:
    """An event id Nudge can't take as it is: the same derived id on every retry."""
    return "pinpoint." + hashlib.blake2b(event_id.encode(), digest_size=12).hexdigest()


def _renamed(message: str, fields: dict[str, str]) -> str:
    """Nudge's field names in a validation message replaced by the Pinpoint fields."""
    parts = []
    for part in message.split("; "):
        where, sep, rest = part.partition(": ")
        head, dot, tail = where.partition(".")
        if head == "properties" and dot:
            where = f"Attributes/Metrics.{tail}"
        else:
            where = fields.get(where, where)
        parts.append(f"{where}{sep}{rest}")
    return "; ".join(parts)


RETRY = "temporarily not accepted"  # IngestService's answer for a chunk the queue refused


def record_ingest(mapped: MappedRequest, user_id: str, result: IngestResult) -> None:
    """What the ingest refused of `user_id`'s events (by index), answered per Pinpoint event."""
    refs = [ref for ref, _ in mapped.events[user_id]]
    for rejection in result.rejected:
        status = 503 if rejection.error.startswith(RETRY) else 400
        message = rejection.error
        if message.startswith("event_id: duplicate"):
            message = "event id: the same as another event of this user in this request"
        mapped.refused[refs[rejection.index]] = ItemAnswer(status, _renamed(message, EVENT_FIELDS))


def queue_unavailable(mapped: MappedRequest, user_id: str) -> None:
    """None of `user_id`'s events could be queued: each is answered 503, to be retried."""
    for ref, _ in mapped.events.get(user_id, []):
        mapped.refused[ref] = ItemAnswer(503, f"{RETRY}; retry this event")


def accepted_count(mapped: MappedRequest) -> int:
    return sum(ref not in mapped.refused for events in mapped.events.values() for ref, _ in events)


def events_response(mapped: MappedRequest) -> dict[str, Any]:
    """Pinpoint's `EventsResponse`: per endpoint, its answer and one per event."""
    accepted = ItemAnswer(202, "Accepted")
    results: dict[str, Any] = {}
    for endpoint_id, event_ids in mapped.order:
        endpoint = mapped.endpoints.get(endpoint_id, accepted)
        events = {
            event_id: mapped.refused.get(EventRef(endpoint_id, event_id), accepted)
            for event_id in event_ids
        }
        results[endpoint_id] = {
            "EndpointItemResponse": _item(endpoint),
            "EventsItemResponse": {event_id: _item(answer) for event_id, answer in events.items()},
        }
    return {"EventsResponse": {"Results": results}}


def _item(answer: ItemAnswer) -> dict[str, Any]:
    return {"StatusCode": answer.status, "Message": answer.message}
