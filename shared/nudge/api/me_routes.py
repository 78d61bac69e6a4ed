"""Mobile API: GET /v1/me (export) and DELETE /v1/me (erase)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from nudge import runtime
from nudge.api.http import caller_id
from nudge.api.mobile_responses import ERRORS, ok

router = APIGatewayHttpRouter()
metrics = Metrics()  # shares the function's metric set; flushed by its log_metrics


@router.get(
    "/v1/me",
    summary="Everything Nudge stores about the caller",
    description=(
        "Profile aggregates, lifecycle stage and transitions, devices and preferences, survey "
        "states and answers (scores and comments), the pushes sent (delivery log, 30 days) "
        "and the broadcasts that reached or list the caller, and the raw event history with "
        "the campaign decision record (rows of `type` decision, one per decision pass, its "
        "`records` saying why each message was sent, held back or suppressed), 1000 records "
        "a page: pass `history_next` back as `history_after` until it is null."
    ),
    tags=["privacy"],
    responses={**ok("MyData", "One page of the caller's data"), **ERRORS},
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
    description=(
        "Idempotent. Everything above goes, including the delivery log and the caller's id "
        "in running broadcasts; anonymous counters stay. Events still in flight from before "
        "the erasure are discarded."
    ),
    tags=["privacy"],
    responses={**ok("Erasure", "Erased: what was removed"), **ERRORS},
)
def erase_me() -> dict[str, Any]:
    result = runtime.privacy_service().erase(caller_id(router))
    metrics.add_metric("DataErasures", MetricUnit.Count, 1)
    return result
