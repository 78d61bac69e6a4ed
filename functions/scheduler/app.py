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
    paused = _auto_pause()
    sunset_sent = _weekly_sunset()
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
        "auto_paused": paused,
        "sunset_digest_sent": sunset_sent,
    }


def _auto_pause() -> list[str]:
    """Campaigns over the opt-out limit are paused; a failure here never fails the tick."""
    try:
        outcome = runtime.auto_pause_service().run()
    except Exception:
        logger.exception("auto-pause failed; retried on the next tick")
        return []
    for campaign_id in outcome.paused:
        logger.warning("campaign auto-paused", campaign_id=campaign_id)
    for failure in outcome.alert_failures:
        logger.error("auto-pause alert not delivered", detail=failure)
    metrics.add_metric("CampaignsAutoPaused", MetricUnit.Count, len(outcome.paused))
    return outcome.paused


def _weekly_sunset() -> bool:
    """The week's sunset advice to the alert destinations; never fails the tick either."""
    try:
        digest = runtime.sunset_digest_service().run()
    except Exception:
        logger.exception("weekly sunset digest failed; retried on the next tick")
        return False
    if digest is not None:
        logger.info("sunset digest sent", week=digest["week"], candidates=len(digest["candidates"]))
    return digest is not None
