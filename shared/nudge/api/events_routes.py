"""Mobile API: POST /v1/events."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import ServiceUnavailableError
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from nudge import runtime
from nudge.api.http import caller_id
from nudge.api.mobile_responses import BODY_ERRORS, answer
from nudge.api.rate_limits import TOO_MANY_REQUESTS, answer_429, limit
from nudge.models.events import EventBatch, IngestResult
from nudge.services.profiles.ingest import QueueUnavailable

router = APIGatewayHttpRouter()
metrics = Metrics()  # shares the function's metric set; flushed by its log_metrics
answer_429(router)


@router.post(
    "/v1/events",
    summary="Send a batch of app events",
    description=(
        "Up to 100 events per request. Each event is validated on its own: valid events are "
        "queued (202) and invalid ones are listed in `rejected` with their index and the field "
        "at fault. Retrying with the same `event_id` is safe: duplicates are ignored."
    ),
    tags=["events"],
    responses={
        202: answer(IngestResult, "Accepted for processing (possibly with per-event rejections)"),
        **BODY_ERRORS,
        400: {
            **BODY_ERRORS[400],
            "description": "Body is not JSON, or `events` is missing, empty or over 100",
        },
        **TOO_MANY_REQUESTS,
    },
)
def post_events(batch: Annotated[EventBatch, Body()]) -> Response[Any]:
    user_id = caller_id(router)
    limit(user_id, "events")  # before anything is queued: a refused request leaves nothing
    try:
        result = runtime.ingest_service().ingest(user_id, batch.events)
    except QueueUnavailable as error:
        raise ServiceUnavailableError("events could not be queued; retry shortly") from error
    metrics.add_metric("EventsAccepted", MetricUnit.Count, result.accepted)
    metrics.add_metric("EventsRejected", MetricUnit.Count, len(result.rejected))
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body=result.model_dump(mode="json", exclude_none=True),
    )
