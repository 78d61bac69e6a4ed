"""App events as the mobile SDK sends them, and as they travel through the events queue."""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

MAX_EVENTS_PER_REQUEST = 100
MAX_PROPERTIES = 50
MAX_STRING_PROPERTY = 1024

EventId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
]
EventName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z][A-Za-z0-9_.\-]*$")
]
PropertyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
]
Scalar = (
    Annotated[str, StringConstraints(max_length=MAX_STRING_PROPERTY)] | bool | int | float | None
)
PropertyValue = Scalar | Annotated[list[Scalar], Field(max_length=50)]


class Location(BaseModel):
    """Where the device was, as reported by the OS (WGS84)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", allow_inf_nan=False, frozen=True)

    lat: float = Field(ge=-90, le=90, description="Latitude in degrees")
    lng: float = Field(ge=-180, le=180, description="Longitude in degrees")
    accuracy_m: float | None = Field(
        default=None, ge=0, le=100_000, description="Horizontal accuracy radius in metres"
    )


class IncomingEvent(BaseModel):
    """One event as the app sends it. The user is the JWT subject, never a body field."""

    model_config = ConfigDict(defer_build=True, extra="forbid", allow_inf_nan=False, frozen=True)

    event_id: EventId = Field(description="Client-generated unique id; retries reuse it")
    name: EventName = Field(description="Event name, e.g. session_start or purchase")
    timestamp: AwareDatetime = Field(
        description="When it happened on the device (ISO 8601 with offset)"
    )
    properties: dict[PropertyKey, PropertyValue] = Field(
        default_factory=dict, max_length=MAX_PROPERTIES, description="Flat event properties"
    )
    location: Location | None = None

    @field_validator("properties")
    @classmethod
    def _finite_numbers(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key, item in value.items():
            items = item if isinstance(item, list) else [item]
            if any(isinstance(x, float) and not math.isfinite(x) for x in items):
                raise ValueError(f"property {key!r} must be a finite number")
        return value


def _inline_refs(schema: dict[str, Any]) -> dict[str, Any]:
    """Resolve `$defs` in place so the schema can be embedded in another document."""
    defs = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(dict(defs[ref.removeprefix("#/$defs/")]))
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)


# Each event is validated on its own (so one bad event never loses the rest of the batch);
# the request model therefore accepts any JSON per item but documents IncomingEvent.
RawEvent = Annotated[Any, WithJsonSchema(_inline_refs(IncomingEvent.model_json_schema()))]


class EventBatch(BaseModel):
    """Request body of POST /v1/events."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    events: list[RawEvent] = Field(
        min_length=1,
        max_length=MAX_EVENTS_PER_REQUEST,
        description=f"1 to {MAX_EVENTS_PER_REQUEST} events, validated one by one",
    )


class Rejection(BaseModel):
    index: int = Field(description="Position of the event in the request's `events` list")
    event_id: str | None = Field(default=None, description="The event's id, when it had one")
    error: str = Field(description="What was wrong, naming the field")


class IngestResult(BaseModel):
    """Response of POST /v1/events (202): what was queued and what was refused, per event."""

    accepted: int
    rejected: list[Rejection]


class QueuedBatch(BaseModel):
    """One events-queue message: a user's validated events from one request.

    Packing a request into one message (instead of one per event) keeps SQS requests, and so
    cost, per event low; the consumer still validates it again (a poison message goes to the DLQ).
    """

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    user_id: str = Field(min_length=1, max_length=256)
    received_at: AwareDatetime
    events: list[IncomingEvent] = Field(min_length=1, max_length=MAX_EVENTS_PER_REQUEST)
