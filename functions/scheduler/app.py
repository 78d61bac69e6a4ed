"""scheduler: EventBridge-driven time-based lifecycle transitions for due users only."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from nudge import runtime

logger = Logger()
tracer = Tracer()
metrics = Metrics()
USERS_PER_SECOND_BUDGET = 50  # conservative: leaves time to save the cursor


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=EventBridgeModel)
def lambda_handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    budget_seconds = max(1, context.get_remaining_time_in_millis() // 1000 - 5)
    report = runtime.scheduler_service().run(max_users=budget_seconds * USERS_PER_SECOND_BUDGET)
    metrics.add_metric("UsersChecked", MetricUnit.Count, report.checked)
    metrics.add_metric("StageTransitions", MetricUnit.Count, len(report.transitions))
    logger.info(
        "scheduler run",
        scheduled_for=event.time.isoformat(),
        buckets=report.buckets,
        checked=report.checked,
        transitions=len(report.transitions),
        complete=report.complete,
    )
    return {
        "checked": report.checked,
        "transitions": len(report.transitions),
        "complete": report.complete,
        "cursor": report.cursor,
    }
