"""Admin API (IAM): fence sets - publish (GeoJSON or CSV), list, archive, and a lookup."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from nudge import runtime
from nudge.api.geofence_routes import GeofencesResponse
from nudge.api.http import MAX_BODY_BYTES, error_response
from nudge.api.responses import (
    BODY_ERRORS,
    CONFIG_REJECTED,
    ERRORS,
    FORBIDDEN,
    NOT_FOUND,
    TOO_LARGE,
    ok,
)
from nudge.configfiles import ConfigError
from nudge.models.configs import object_key
from nudge.services.configs.loading import problem_row

router = APIGatewayHttpRouter()
metrics = Metrics()
SetIdParam = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$", description="fence set id")
]


class FenceSetUpload(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    format: Literal["geojson", "csv"]
    content: str = Field(
        min_length=1,
        max_length=MAX_BODY_BYTES,
        description="The file (larger sets: upload geofences/<set_id>.geojson to the bucket)",
    )


class FenceSetStatus(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    status: Literal["active", "archived"]


def _ok(body: Any) -> Response[Any]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


@router.put(
    "/admin/v1/geofences/<set_id>",
    summary="Publish a fence set version (GeoJSON or CSV)",
    tags=["geofences"],
    responses={**ok("FenceSetPublished"), **CONFIG_REJECTED, **FORBIDDEN, **TOO_LARGE},
)
def put_fence_set(set_id: SetIdParam, request: Annotated[FenceSetUpload, Body()]) -> Response[Any]:
    source = object_key("geofences", set_id, f".{request.format}")
    try:
        result, fence_set = runtime.fence_sets().publish(
            set_id, request.content, request.format, source, stored_source="admin-api"
        )
    except ConfigError as error:
        metrics.add_metric("ConfigsRejected", MetricUnit.Count, 1)
        problems = [problem_row(p) for p in error.problems]
        summary = "; ".join(str(p) for p in error.problems[:3])
        return error_response(400, f"invalid fence set: {summary}", problems=problems)
    metrics.add_metric("ConfigsLoaded", MetricUnit.Count, 1)
    return _ok(
        {
            "id": set_id,
            "version": result.version,
            "created": result.created,
            "current_version": result.head.version,
            "status": result.head.status,
            "fences": len(fence_set.fences),
            "sha256": result.head.sha256,
        }
    )


@router.get(
    "/admin/v1/geofences",
    summary="Fence sets: status, version, fence count, load errors",
    tags=["geofences"],
    responses={**ok("FenceSetList"), **FORBIDDEN},
)
def list_fence_sets() -> dict[str, Any]:
    return {"sets": runtime.fence_sets().list_sets()}


@router.post(
    "/admin/v1/geofences/<set_id>/status",
    summary="Archive a fence set, or make it active again",
    tags=["geofences"],
    responses={**ok("FenceSetStatusChanged"), **BODY_ERRORS, **NOT_FOUND},
)
def fence_set_status(
    set_id: SetIdParam, request: Annotated[FenceSetStatus, Body()]
) -> Response[Any]:
    head = runtime.fence_sets().set_status(set_id, request.status)
    if head is None:
        raise NotFoundError(f"set_id: no fence set {set_id!r}")
    return _ok({"id": head.config_id, "status": head.status, "version": head.version})


@router.get(
    "/admin/v1/geofences/near",
    summary="The fences the app would be told to monitor at a point (testing)",
    tags=["geofences"],
    responses={
        **ok(GeofencesResponse),
        **ERRORS,
        **ok("ErrorBody", "Fence sets could not be read; try again", 503),
    },
)
def fences_near_point(
    lat: Annotated[float, Query(ge=-90, le=90, allow_inf_nan=False)],
    lng: Annotated[float, Query(ge=-180, le=180, allow_inf_nan=False)],
    platform: Annotated[Literal["ios", "android"], Query()] = "ios",
    limit: Annotated[int | None, Query(ge=1, le=100)] = None,
) -> Response[Any]:
    from nudge.api.geofence_routes import check_limit, fences_near

    return _ok(fences_near(lat, lng, check_limit(limit, platform), platform))
