"""Mobile API: GET /v1/me (export) and DELETE /v1/me (erase)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from nudge import runtime
from nudge.api.http import caller_id

router = APIGatewayHttpRouter()
metrics = Metrics()  # shares the function's metric set; flushed by its log_metrics


@router.get(
    "/v1/me",
    summary="Everything Nudge stores about the caller",
    description=(
        "Profile aggregates, lifecycle stage and transitions, devices and preferences, survey "
        "states and answers (scores and comments), and the raw event history, 1000 records "
        "a page: pass `history_next` back as `history_after` until it is null."
    ),
    tags=["privacy"],
    responses={401: {"description": "Missing or invalid bearer token"}},
)
def export_me(
    history_after: Annotated[
        str | None,
        Query(max_length=300, description="`history_next` from the previous page"),
    ] = None,
) -> dict[str, Any]:
    result = runtime.privacy_service().export(caller_id(router), history_after)
    metrics.add_metric("DataExports", MetricUnit.Count, 1)
    return result


@router.delete(
    "/v1/me",
    summary="Erase everything Nudge stores about the caller",
    description="Idempotent. Events still in flight from before the erasure are discarded.",
    tags=["privacy"],
    responses={401: {"description": "Missing or invalid bearer token"}},
)
def erase_me() -> dict[str, Any]:
    result = runtime.privacy_service().erase(caller_id(router))
    metrics.add_metric("DataErasures", MetricUnit.Count, 1)
    return result
