"""Mobile API: the caller's devices (FCM tokens) and delivery preferences."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import ServiceUnavailableError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from nudge import runtime
from nudge.api.http import caller_id
from nudge.api.mobile_responses import BODY_ERRORS, ERRORS, busy, no_content, ok
from nudge.api.rate_limits import TOO_MANY_REQUESTS, answer_429, limit
from nudge.models.device import DeviceRegistration, PreferencesUpdate
from nudge.services.messaging.devices import EventsUnavailable, PreferencesBusy

router = APIGatewayHttpRouter()
metrics = Metrics()  # shares the function's metric set; flushed by its log_metrics
answer_429(router)
DeviceIdParam = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:\-]+$",
        description="The app's own stable id for this install",
    ),
]


@router.put(
    "/v1/devices/<device_id>",
    summary="Register or refresh this install's FCM token",
    description=(
        "Call on every app start and whenever FCM rotates the token. A token registered by "
        "another account (someone else signed in on this phone) is detached from it."
    ),
    tags=["devices"],
    responses={
        **ok("DeviceView", "Registered (or refreshed)"),
        **BODY_ERRORS,
        **busy("Not stored (busy, or its facts could not be queued); retry"),
        **TOO_MANY_REQUESTS,
    },
)
def put_device(
    device_id: DeviceIdParam, registration: Annotated[DeviceRegistration, Body()]
) -> dict[str, Any]:
    user_id = caller_id(router)
    limit(user_id, "devices")
    try:
        device = runtime.devices_service().register(user_id, device_id, registration)
    except EventsUnavailable as error:
        raise ServiceUnavailableError(str(error)) from error
    metrics.add_metric("DevicesRegistered", MetricUnit.Count, 1)
    return device.public()


@router.delete(
    "/v1/devices/<device_id>",
    summary="Forget this install (sign-out, uninstall)",
    tags=["devices"],
    responses={**no_content("Gone (also when it never existed)"), **ERRORS, **TOO_MANY_REQUESTS},
)
def delete_device(device_id: DeviceIdParam) -> Response[str]:
    user_id = caller_id(router)
    limit(user_id, "devices")
    runtime.devices_service().unregister(user_id, device_id)
    return Response(status_code=204, body="")


@router.get(
    "/v1/me/devices",
    summary="The caller's devices",
    tags=["devices"],
    responses={**ok("DeviceList"), **ERRORS},
)
def list_devices() -> dict[str, Any]:
    return {"devices": runtime.devices_service().devices(caller_id(router))}


@router.get(
    "/v1/me/preferences",
    summary="Opt-ins per category, quiet hours and time zone (defaults filled in)",
    tags=["preferences"],
    responses={**ok("PreferencesView"), **ERRORS},
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
    responses={**ok("PreferencesView", "The preferences now"), **BODY_ERRORS, **TOO_MANY_REQUESTS},
)
def put_preferences(update: Annotated[PreferencesUpdate, Body()]) -> dict[str, Any]:
    user_id = caller_id(router)
    limit(user_id, "preferences")
    try:
        result = runtime.devices_service().update_preferences(user_id, update)
    except PreferencesBusy as error:
        raise ServiceUnavailableError(str(error)) from error
    metrics.add_metric("PreferencesChanged", MetricUnit.Count, 1)
    return result
