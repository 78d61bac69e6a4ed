"""Mobile API: the caller's devices (FCM tokens) and delivery preferences."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import ServiceUnavailableError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from nudge import runtime
from nudge.api.http import caller_id
from nudge.models.device import DeviceRegistration, PreferencesUpdate
from nudge.services.messaging.devices import EventsUnavailable, PreferencesBusy

router = APIGatewayHttpRouter()
metrics = Metrics()  # shares the function's metric set; flushed by its log_metrics
DeviceIdParam = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:\-]+$",
        description="The app's own stable id for this install",
    ),
]
UNAUTHORIZED: dict[int, OpenAPIResponse] = {401: {"description": "Missing or invalid bearer token"}}


@router.put(
    "/v1/devices/<device_id>",
    summary="Register or refresh this install's FCM token",
    description=(
        "Call on every app start and whenever FCM rotates the token. A token registered by "
        "another account (someone else signed in on this phone) is detached from it."
    ),
    tags=["devices"],
    responses={
        **UNAUTHORIZED,
        400: {"description": "Invalid field (named in the message)"},
        503: {"description": "Not stored: the device's facts could not be queued; retry"},
    },
)
def put_device(
    device_id: DeviceIdParam, registration: Annotated[DeviceRegistration, Body()]
) -> dict[str, Any]:
    try:
        device = runtime.devices_service().register(caller_id(router), device_id, registration)
    except EventsUnavailable as error:
        raise ServiceUnavailableError(str(error)) from error
    metrics.add_metric("DevicesRegistered", MetricUnit.Count, 1)
    return device.public()


@router.delete(
    "/v1/devices/<device_id>",
    summary="Forget this install (sign-out, uninstall)",
    tags=["devices"],
    responses={**UNAUTHORIZED, 204: {"description": "Gone (also when it never existed)"}},
)
def delete_device(device_id: DeviceIdParam) -> Response[str]:
    runtime.devices_service().unregister(caller_id(router), device_id)
    return Response(status_code=204, body="")


@router.get(
    "/v1/me/devices", summary="The caller's devices", tags=["devices"], responses=UNAUTHORIZED
)
def list_devices() -> dict[str, Any]:
    return {"devices": runtime.devices_service().devices(caller_id(router))}


@router.get(
    "/v1/me/preferences",
    summary="Opt-ins per category, quiet hours and time zone (defaults filled in)",
    tags=["preferences"],
    responses=UNAUTHORIZED,
)
def get_preferences() -> dict[str, Any]:
    return runtime.devices_service().preferences(caller_id(router))


@router.put(
    "/v1/me/preferences",
    summary="Change opt-ins, quiet hours or time zone",
    description=(
        "Send only what changes. `quiet_hours: null` turns quiet hours off. Every opt-in or "
        "opt-out is recorded with its time and source (the audit trail is in GET /v1/me)."
    ),
    tags=["preferences"],
    responses={**UNAUTHORIZED, 400: {"description": "Invalid field (named in the message)"}},
)
def put_preferences(update: Annotated[PreferencesUpdate, Body()]) -> dict[str, Any]:
    try:
        result = runtime.devices_service().update_preferences(caller_id(router), update)
    except PreferencesBusy as error:
        raise ServiceUnavailableError(str(error)) from error
    metrics.add_metric("PreferencesChanged", MetricUnit.Count, 1)
    return result
