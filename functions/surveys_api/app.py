"""surveys_api: the caller's next NPS survey, answers and dismissals."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudge.api import surveys_routes
from nudge.api.http import install_error_handlers, reject_unreadable_body

logger = Logger()
tracer = Tracer()
metrics = Metrics()

app = APIGatewayHttpResolver(enable_validation=True)
install_error_handlers(app)
app.include_router(surveys_routes.router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return reject_unreadable_body(event) or app.resolve(event, context)
