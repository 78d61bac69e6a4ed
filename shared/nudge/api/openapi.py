"""The mobile and admin APIs' OpenAPI documents, generated from the routes and their models.

The generated document is committed next to this module and served as a file (no router
imports on the cold path); a test fails when it no longer matches the code (`make openapi`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from nudge import __version__

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

MOBILE_OPENAPI_PATH = Path(__file__).with_name("mobile-openapi.json")
MOBILE_TITLE = "Nudge mobile API"
ADMIN_OPENAPI_PATH = Path(__file__).with_name("admin-openapi.json")
ADMIN_TITLE = "Nudge admin API"


def build_mobile_openapi() -> str:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from nudge.api import (
        devices_routes,
        events_routes,
        geofence_routes,
        me_routes,
        pinpoint_routes,
        surveys_routes,
    )
    from nudge.api.responses import resolve_models

    resolve_models()  # the routes name their answers' models; the document needs the classes

    app = APIGatewayHttpResolver(enable_validation=True)
    app.include_router(events_routes.router)
    app.include_router(pinpoint_routes.router)
    app.include_router(devices_routes.router)
    app.include_router(me_routes.router)
    app.include_router(geofence_routes.router)
    app.include_router(surveys_routes.router)
    schema = json.loads(
        app.get_openapi_json_schema(
            title=MOBILE_TITLE,
            version=__version__,
            description=(
                "Called by the app with the JWT of its own sign-in (`Authorization: Bearer`). "
                "The user is the token's subject, never a field in the body."
            ),
        )
    )
    # A request that fails validation is answered 400 (nudge.api.http), never 422; a 204 has
    # no body (an empty `content` only kept Powertools from documenting the return type)
    for operation in (op for path in schema["paths"].values() for op in path.values()):
        operation["responses"].pop("422", None)
        for response in operation["responses"].values():
            if response.get("content") == {}:
                del response["content"]
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schema.get("components", {}).get("schemas", {}).pop(name, None)
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    schema["security"] = [{"bearer": []}]
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_mobile_openapi() -> None:
    MOBILE_OPENAPI_PATH.write_text(build_mobile_openapi())


def admin_resolver() -> APIGatewayHttpResolver:
    """The admin routes (as functions/admin_api serves them) in a resolver of their own."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from nudge.api import (
        admin_routes,
        campaign_routes,
        geofence_admin_routes,
        nps_routes,
        pinpoint_routes,
    )
    from nudge.api.responses import resolve_models

    resolve_models()  # the routes name their answers' models; the document needs the classes
    app = APIGatewayHttpResolver(enable_validation=True)
    for module in (admin_routes, campaign_routes, nps_routes, geofence_admin_routes):
        app.include_router(module.router)
    app.include_router(pinpoint_routes.backend_router)  # served by events_api, signed like these
    return app


def build_admin_openapi() -> str:
    schema = json.loads(
        admin_resolver().get_openapi_json_schema(
            title=ADMIN_TITLE,
            version=__version__,
            description=(
                "For marketers and ops (the `nudge` CLI): every request is signed with AWS "
                "SigV4 (service `execute-api`) by an IAM identity allowed to call the API."
            ),
        )
    )
    # A request that fails validation is answered 400 (nudge.api.http), never 422
    for operation in (op for path in schema["paths"].values() for op in path.values()):
        operation["responses"].pop("422", None)
    schemas = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    schema.setdefault("components", {})["securitySchemes"] = {
        "sigv4": {
            "type": "apiKey",
            "name": "Authorization",
            "in": "header",
            "description": "AWS Signature Version 4 (IAM), service execute-api",
        }
    }
    schema["security"] = [{"sigv4": []}]
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_admin_openapi() -> None:
    ADMIN_OPENAPI_PATH.write_text(build_admin_openapi())


@lru_cache(maxsize=1)
def mobile_openapi_json() -> str:
    return MOBILE_OPENAPI_PATH.read_text()


@lru_cache(maxsize=1)
def admin_openapi_json() -> str:
    return ADMIN_OPENAPI_PATH.read_text()
