"""Mobile API: GET /v1/me/geofences - the nearest fences for the app to monitor with the OS.

The position in the query is used for this answer only: never stored, never logged. A caller
without location consent gets no fences (so the app monitors nothing and reports nothing).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler.exceptions import (
    BadRequestError,
    ServiceUnavailableError,
)
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from nudge import runtime
from nudge.api.http import caller_id
from nudge.api.mobile_responses import ERRORS, busy, ok
from nudge.models.geofence_regions import PLATFORM_REGION_LIMITS, MonitoredRegion

router = APIGatewayHttpRouter()
metrics = Metrics()  # shares the function's metric set; flushed by its log_metrics
NO_FENCES_REFRESH_M = 25_000.0  # nothing to monitor: ask again after moving this far


class GeofencesResponse(BaseModel):
    """Monitor these regions; ask again after moving `refresh_radius_m` from the query point."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    fences: list[MonitoredRegion] = Field(description="Nearest edge first")
    refresh_radius_m: float = Field(
        description="Ask again after moving this far (e.g. monitor this circle as one more region)"
    )
    location_consent: bool = Field(
        description="False: the user has not granted `location`; no fences are returned"
    )


def check_limit(limit: int | None, platform: str) -> int:
    """The limit asked for (default: the platform's most); BadRequestError beyond it."""
    cap = PLATFORM_REGION_LIMITS[platform]
    if limit is None:
        return cap
    if limit > cap:
        raise BadRequestError(
            f"limit: at most {cap} on {platform} (the OS monitors at most {cap} regions)"
        )
    return limit


def nearby_fences(
    user_id: str, lat: float, lng: float, limit: int, platform: str
) -> dict[str, Any]:
    """The body of GET /v1/me/geofences: none without location consent."""
    if not runtime.devices_service().consents_to(user_id, "location"):
        metrics.add_metric("GeofencesWithoutConsent", MetricUnit.Count, 1)
        return _body([], NO_FENCES_REFRESH_M, consent=False)
    return fences_near(lat, lng, limit, platform)


def fences_near(lat: float, lng: float, limit: int, platform: str) -> dict[str, Any]:
    try:
        index = runtime.fence_catalog().current_index()
    except Exception as error:  # no index could be built yet (S3 or DynamoDB failing)
        raise ServiceUnavailableError("geofences are unavailable; try again shortly") from error
    if index is None or len(index) == 0:
        return _body([], NO_FENCES_REFRESH_M)
    from nudge.domain.geofencing.index import nearest_fences

    nearby = nearest_fences(index, lat, lng, limit, platform)
    metrics.add_metric("GeofenceLookups", MetricUnit.Count, 1)
    return _body(nearby.fences, nearby.refresh_radius_m)


def _body(
    fences: list[MonitoredRegion], refresh_radius_m: float, consent: bool = True
) -> dict[str, Any]:
    return GeofencesResponse(
        fences=fences, refresh_radius_m=refresh_radius_m, location_consent=consent
    ).model_dump(mode="json")


@router.get(
    "/v1/me/geofences",
    summary="The nearest fences to monitor with the OS",
    description=(
        "Register the returned circles with the OS (iOS monitors at most 20 regions per app, "
        "Android 100 geofences); polygons come as their circumscribing circle. Ask again "
        "after moving `refresh_radius_m` from this point. The position is used for this "
        "answer only and never stored. Without `location` consent the list is empty."
    ),
    tags=["geofences"],
    responses={
        **ok(GeofencesResponse),
        **ERRORS,
        **busy("Fence sets could not be read; try again"),
    },
)
def get_geofences(
    lat: Annotated[
        float, Query(ge=-90, le=90, allow_inf_nan=False, description="Latitude (WGS84)")
    ],
    lng: Annotated[
        float, Query(ge=-180, le=180, allow_inf_nan=False, description="Longitude (WGS84)")
    ],
    platform: Annotated[
        Literal["ios", "android"],
        Query(description="Sets the most fences: ios 20, android 100"),
    ] = "ios",
    limit: Annotated[
        int | None,
        Query(ge=1, le=100, description="How many (default: the platform's most)"),
    ] = None,
) -> GeofencesResponse:
    user_id = caller_id(router)
    chosen = check_limit(limit, platform)
    return GeofencesResponse.model_validate(nearby_fences(user_id, lat, lng, chosen, platform))
