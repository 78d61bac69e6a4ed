"""Pinpoint's PutEvents shapes (`EventsRequest`, `EventsResponse`) for the OpenAPI documents.

The route validates only the envelope (pinpoint_routes.PutEventsRequest): each endpoint and
event is read on its own (domain/migration/pinpoint_events.py) so one bad event never loses
the rest. The strict shapes here document what each one should be; this module is imported
only when a document is built (or a test checks an answer), never on a cold start.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Pinpoint(BaseModel):
    """Pinpoint's own field names; unknown keys are ignored, as Pinpoint's clients vary."""

    model_config = ConfigDict(defer_build=True, extra="allow")


class PinpointSession(_Pinpoint):
    Id: str | None = Field(default=None, description="Kept as the `session_id` property")
    StartTimestamp: str | None = Field(default=None, description="Kept as `session_start_at`")
    StopTimestamp: str | None = Field(default=None, description="Kept as `session_stop_at`")
    Duration: int | None = Field(default=None, description="Kept as `session_duration_ms`")


class PinpointEvent(_Pinpoint):
    """One event. Reserved types map onto Nudge's names; any other type keeps its name."""

    EventType: str = Field(
        description=(
            "`_session.start` -> session_start, `_session.stop` -> session_end, "
            "`_session.pause`/`_session.resume` -> session_pause/session_resume, "
            "`_monetization.purchase` -> purchase (amount = `_item_price` x `_quantity`), "
            "`_campaign.opened_notification` -> push_opened (attribute `message_id` or "
            "`job_id`: the job id of the Nudge push), `_userauth.sign_up` -> signup_completed, "
            "`_userauth.sign_in` -> sign_in, `_userauth.auth_fail` -> sign_in_failed"
        )
    )
    Timestamp: str = Field(description="ISO 8601 with an offset, e.g. 2026-03-02T08:00:00Z")
    Attributes: dict[str, str] | None = Field(default=None, description="Kept as properties")
    Metrics: dict[str, float] | None = Field(default=None, description="Kept as properties")
    Session: PinpointSession | None = None
    AppPackageName: str | None = None
    AppVersionCode: str | None = None
    ClientSdkVersion: str | None = None
    SdkName: str | None = None


class PinpointDemographic(_Pinpoint):
    AppVersion: str | None = None
    Locale: str | None = Field(default=None, description="e.g. en_US")
    Platform: str | None = Field(default=None, description="android (default) or ios")
    Timezone: str | None = Field(default=None, description="IANA zone, e.g. Europe/Amsterdam")


class PinpointUser(_Pinpoint):
    UserId: str | None = Field(
        default=None,
        description=(
            "The user, for a backend (IAM) caller; without one, the anonymous user "
            "`pinpoint:<endpoint id>`. An app's events are always its token's subject."
        ),
    )


class PinpointEndpoint(_Pinpoint):
    """The install: a GCM endpoint (an FCM token in Address) updates the device of that
    endpoint id; APNS endpoints are answered 400 (re-register through PUT /v1/devices)."""

    ChannelType: str | None = Field(default=None, description="GCM; APNS* are refused")
    Address: str | None = Field(default=None, description="The FCM registration token")
    OptOut: str | None = Field(default=None, description="ALL: the OS permission is off")
    Demographic: PinpointDemographic | None = None
    User: PinpointUser | None = None


class PinpointBatchItem(_Pinpoint):
    Endpoint: PinpointEndpoint | None = None
    Events: dict[str, PinpointEvent] | None = Field(
        default=None, description="event id -> event; retries reuse the id"
    )


class ItemResponse(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    StatusCode: int = Field(description="202 accepted, 400 refused (never retry), 503 retry")
    Message: str


class ResultItem(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    EndpointItemResponse: ItemResponse
    EventsItemResponse: dict[str, ItemResponse]


class EventsResults(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    Results: dict[str, ResultItem] = Field(description="endpoint id -> its answers")


class PutEventsResponse(BaseModel):
    """Pinpoint's `EventsResponse` (202)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    EventsResponse: EventsResults
