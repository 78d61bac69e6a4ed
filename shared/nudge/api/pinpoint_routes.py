"""Pinpoint's PutEvents, served by Nudge: apps and backends keep their Pinpoint payloads.

Two routes, one handler: an HTTP API route has one authorizer, so apps (the JWT) post to
`/v1/apps/{app_id}/events` and backends (IAM) to `/admin/v1/apps/{app_id}/events`. The body
and the answer are Pinpoint's (`EventsRequest`, `EventsResponse`, per event 202 or 400 with a
message). The mapping is nudge.domain.migration.pinpoint_events, imported on the first
request: the events function's cold start stays where it was.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import (
    BadRequestError,
    ForbiddenError,
    ServiceUnavailableError,
)
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from nudge import runtime
from nudge.api import mobile_responses, responses
from nudge.api.http import caller_id, transient_aws_error
from nudge.api.rate_limits import TOO_MANY_REQUESTS, answer_429, limit
from nudge.api.responses import Answers

if TYPE_CHECKING:
    from nudge.domain.migration.pinpoint_events import DevicePlan, ItemAnswer, MappedRequest

router = APIGatewayHttpRouter()  # the app's route (JWT)
backend_router = APIGatewayHttpRouter()  # the backends' route (IAM)
metrics = Metrics()  # shares the function's metric set; flushed by its log_metrics
logger = Logger(child=True)
answer_429(router)
PINPOINT = Answers("nudge.api.pinpoint_models")
# a device is written again only when it changed or is this old: an app sends its endpoint
# with every batch, and a write per batch would cost more than the events themselves
DEVICE_REFRESH_SECONDS = 86_400
AppId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_\-]+$",
        description="The Pinpoint project id the app was built with; not checked (one "
        "Nudge stack serves one app)",
    ),
]
DESCRIPTION = (
    "Pinpoint's PutEvents: `EventsRequest` in, `EventsResponse` out, at most 100 events in "
    "all. Each endpoint and each event is answered on its own (202, or 400 with a message "
    "naming the field; 503: retry it), so the valid rest is always queued. Reserved event "
    "types become Nudge's (see `EventType`); a GCM endpoint updates the device of that "
    "endpoint id, an APNS one is answered 400 (re-register through PUT /v1/devices/{id})."
)
ACCEPTED = PINPOINT.answer("PutEventsResponse", "Answered per endpoint and per event")


def _document_items(schema: dict[str, Any]) -> None:
    """The strict item shape, inlined: built when a document is, never at cold start."""
    from nudge.api.pinpoint_models import PinpointBatchItem
    from nudge.models.events import _inline_refs

    schema["additionalProperties"] = _inline_refs(PinpointBatchItem.model_json_schema())


class PutEventsRequest(BaseModel):
    """Pinpoint's `EventsRequest`: at most 100 events in all, across the endpoints."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    BatchItem: dict[str, Any] = Field(
        min_length=1,
        description="endpoint id -> {Endpoint, Events}; each read on its own",
        json_schema_extra=_document_items,
    )


@router.post(
    "/v1/apps/<app_id>/events",
    summary="Send events in Pinpoint's PutEvents shape (the user is the token's subject)",
    description=DESCRIPTION + " `Endpoint.User.UserId` is ignored: the user is the JWT's `sub`.",
    tags=["events"],
    responses={
        202: ACCEPTED,
        **mobile_responses.BODY_ERRORS,
        400: mobile_responses.answer(
            "InvalidRequest", "Not JSON, `BatchItem` missing or empty, or over 100 events"
        ),
        **TOO_MANY_REQUESTS,
    },
)
def put_events_app(
    app_id: AppId, request: Annotated[PutEventsRequest, Body()]
) -> Response[dict[str, Any]]:
    user_id = caller_id(router)
    mapped = _mapped(request, user_id)
    limit(user_id, "events")  # before anything is queued: a refused request leaves nothing
    return _put_events(mapped)


@backend_router.post(
    "/admin/v1/apps/<app_id>/events",
    summary="Send events in Pinpoint's PutEvents shape for any user (a backend)",
    description=DESCRIPTION
    + " The user is `Endpoint.User.UserId`, or `pinpoint:<endpoint id>` without one.",
    tags=["events"],
    responses={
        202: ACCEPTED,
        **responses.BODY_ERRORS,
        400: responses.ADMIN.answer(
            "InvalidRequest", "Not JSON, `BatchItem` missing or empty, or over 100 events"
        ),
        503: responses.ADMIN.answer("ErrorBody", "The events queue is unavailable: retry"),
    },
)
def put_events_backend(
    app_id: AppId, request: Annotated[PutEventsRequest, Body()]
) -> Response[dict[str, Any]]:
    if not backend_router.current_event.request_context.authorizer.get("iam"):
        raise ForbiddenError("this route takes SigV4-signed (IAM) calls only")
    return _put_events(_mapped(request, None))


def _mapped(request: PutEventsRequest, caller: str | None) -> MappedRequest:
    from nudge.domain.migration.pinpoint_events import RequestRefused, map_request

    try:
        return map_request(request.model_dump(), caller, runtime.get_settings().engagement)
    except RequestRefused as error:
        raise BadRequestError(str(error)) from error


def _put_events(mapped: MappedRequest) -> Response[dict[str, Any]]:
    from nudge.domain.migration import pinpoint_events as pinpoint
    from nudge.services.profiles.ingest import QueueUnavailable

    service = runtime.ingest_service()
    unavailable = False
    for user_id, events in mapped.events.items():
        raw = [event.model_dump(mode="json") for _, event in events]
        try:
            pinpoint.record_ingest(mapped, user_id, service.ingest(user_id, raw))
        except QueueUnavailable:
            unavailable = True
            pinpoint.queue_unavailable(mapped, user_id)
    accepted = pinpoint.accepted_count(mapped)
    if unavailable and not accepted:
        raise ServiceUnavailableError("events could not be queued; retry shortly")
    for endpoint_id, plan in mapped.devices.items():
        mapped.endpoints[endpoint_id] = _update_device(plan, mapped.endpoints[endpoint_id])
    metrics.add_metric("EventsAccepted", MetricUnit.Count, accepted)
    metrics.add_metric("EventsRejected", MetricUnit.Count, len(mapped.refused))
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=pinpoint.events_response(mapped),
    )


def _update_device(plan: DevicePlan, answer: ItemAnswer) -> ItemAnswer:
    """Registered as PUT /v1/devices/{id} would; an unchanged, recent device is not rewritten."""
    from botocore.exceptions import ClientError

    from nudge.clock import to_epoch
    from nudge.domain.migration.pinpoint_events import ItemAnswer
    from nudge.services.messaging.devices import EventsUnavailable

    now = to_epoch(runtime.CLOCK.now())
    try:
        stored = {d.device_id: d for d in runtime.device_store().devices(plan.user_id, now)}
        current = stored.get(plan.device_id)
        registration = plan.registration
        if current is not None:  # what the endpoint left out keeps its stored value
            unnamed = set(registration.model_dump()) - plan.given
            registration = registration.model_copy(update=current.model_dump(include=unnamed))
        facts = registration.model_dump()
        if (
            current is not None
            and current.model_dump(include=set(facts)) == facts
            and now - current.updated_at < DEVICE_REFRESH_SECONDS
        ):
            return answer
        runtime.devices_service().register(plan.user_id, plan.device_id, registration)
    except EventsUnavailable as error:
        return ItemAnswer(503, f"{error}")
    except ClientError as error:
        if not transient_aws_error(error):
            raise
        return ItemAnswer(503, "the device could not be stored (busy); retry shortly")
    metrics.add_metric("DevicesRegistered", MetricUnit.Count, 1)
    return answer
