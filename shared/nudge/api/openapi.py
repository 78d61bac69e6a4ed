"""The mobile API's OpenAPI document, generated from the routes and their pydantic models.

The generated document is committed next to this module and served as a file (no router
imports on the cold path); a test fails when it no longer matches the code (`make openapi`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from nudge import __version__

MOBILE_OPENAPI_PATH = Path(__file__).with_name("mobile-openapi.json")
MOBILE_TITLE = "Nudge mobile API"


def build_mobile_openapi() -> str:
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

    from nudge.api import devices_routes, events_routes, geofence_routes, me_routes, surveys_routes

    app = APIGatewayHttpResolver(enable_validation=True)
    app.include_router(events_routes.router)
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
    schema.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    }
    schema["security"] = [{"bearer": []}]
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_mobile_openapi() -> None:
    MOBILE_OPENAPI_PATH.write_text(build_mobile_openapi())


@lru_cache(maxsize=1)
def mobile_openapi_json() -> str:
    return MOBILE_OPENAPI_PATH.read_text()
