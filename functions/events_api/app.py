"""events_api: POST /v1/events, Pinpoint's PutEvents (and the mobile API's OpenAPI document)."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudge.api import events_routes, pinpoint_routes
from nudge.api.http import install_error_handlers, reject_unreadable_body
from nudge.api.openapi import mobile_openapi_json

logger = Logger()
tracer = Tracer()
metrics = Metrics()

app = APIGatewayHttpResolver(enable_validation=True)
install_error_handlers(app)
app.include_router(events_routes.router)
app.include_router(pinpoint_routes.router)  # apps (JWT)
app.include_router(pinpoint_routes.backend_router)  # backends (IAM)


# Unauthenticated and the same until the next deploy: clients and CDNs keep it a day, and the
# route has its own small throttle in template.yaml (it can never use up the API's).
OPENAPI_CACHE_CONTROL = "public, max-age=86400"


@app.get("/v1/openapi.json", include_in_schema=False)
def openapi() -> Response[str]:
    return Response(
        200,
        content_types.APPLICATION_JSON,
        mobile_openapi_json(),
        headers={"Cache-Control": OPENAPI_CACHE_CONTROL},
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    def respond() -> dict[str, Any]:
        return reject_unreadable_body(event) or app.resolve(event, context)

    if str(event.get("rawPath", "")).startswith("/admin/"):  # a backend's PutEvents (IAM)
        from nudge.api.audit import audited  # apps' calls never need it

        return audited(event, respond)  # one audit line, as every admin call leaves
    return respond()
