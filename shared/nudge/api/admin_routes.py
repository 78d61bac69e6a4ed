"""Admin API (IAM-authenticated): user export/erase and the lifecycle report."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.exceptions import BadRequestError
from aws_lambda_powertools.event_handler.openapi.params import Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from nudge import runtime
from nudge.models.keys import SYSTEM_PREFIX

router = APIGatewayHttpRouter()
metrics = Metrics()  # shares the function's metric set; flushed by its log_metrics
UserId = Annotated[
    str, Path(min_length=1, max_length=256, description="The app's user id (JWT sub)")
]


def _user(raw: str) -> str:
    """Path ids arrive URL-encoded (`auth0%7Cabc`); a system key is never a user."""
    user_id = unquote(raw)
    if user_id.startswith(SYSTEM_PREFIX):
        raise BadRequestError(f"user_id: {SYSTEM_PREFIX!r} starts reserved keys, not user ids")
    return user_id


@router.get(
    "/admin/v1/users/<user_id>", summary="Export everything stored about a user", tags=["users"]
)
def export_user(
    user_id: UserId,
    history_after: Annotated[str | None, Query(max_length=300)] = None,
) -> dict[str, Any]:
    metrics.add_metric("AdminExports", MetricUnit.Count, 1)
    return runtime.privacy_service().export(_user(user_id), history_after)


@router.delete("/admin/v1/users/<user_id>", summary="Erase a user", tags=["users"])
def erase_user(user_id: UserId) -> dict[str, Any]:
    metrics.add_metric("AdminErasures", MetricUnit.Count, 1)
    return runtime.privacy_service().erase(_user(user_id))


@router.get(
    "/admin/v1/reports/lifecycle",
    summary="Users per lifecycle stage, and transitions in the last N days",
    tags=["reports"],
)
def lifecycle_report(
    days: Annotated[int, Query(ge=1, le=90, description="Transition window in days")] = 30,
) -> dict[str, Any]:
    metrics.add_metric("ReportsServed", MetricUnit.Count, 1)
    return runtime.reports_service().lifecycle(days)
