"""admin_api: IAM-authenticated operations for marketers and ops, each call audited."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudge.api import admin_routes, campaign_routes, geofence_admin_routes, nps_routes
from nudge.api.audit import audited
from nudge.api.http import install_error_handlers, reject_unreadable_body
from nudge.api.openapi import admin_openapi_json

logger = Logger()
tracer = Tracer()
metrics = Metrics()

app = APIGatewayHttpResolver(enable_validation=True)
install_error_handlers(app)
app.include_router(admin_routes.router)
app.include_router(campaign_routes.router)
app.include_router(nps_routes.router)
app.include_router(geofence_admin_routes.router)


@app.get("/admin/v1/openapi.json", include_in_schema=False)
def openapi() -> Response[str]:
    return Response(200, content_types.APPLICATION_JSON, admin_openapi_json())


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # every call, refused or not, leaves one audit line: caller, route, target ids, status
    return audited(event, lambda: reject_unreadable_body(event) or app.resolve(event, context))
