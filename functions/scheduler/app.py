"""scheduler: the EventBridge tick. It fans the due-index buckets out to the shards queue
(scheduler_worker takes the users through, concurrently), then runs the campaign chores."""

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


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_parser(model=EventBridgeModel)
def lambda_handler(event: EventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    report = runtime.scheduler_service().tick()
    paused = _auto_pause()
    promoted = _auto_promote()
    sunset_sent = _weekly_sunset()
    segment_alerts = _segment_health()
    regional_model = _regional_model()
    metrics.add_metric("DueBucketsQueued", MetricUnit.Count, len(report.sent))
    logger.info(
        "scheduler tick",
        scheduled_for=event.time.isoformat(),
        buckets=report.buckets,
        queued=len(report.sent),
        cursor=report.cursor,
    )
    return {
        "buckets": report.buckets,
        "queued": len(report.sent),
        "cursor": report.cursor,
        "auto_paused": paused,
        "auto_promoted": promoted,
        "sunset_digest_sent": sunset_sent,
        "segment_alerts": segment_alerts,
        "regional_model": regional_model,
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


def _auto_promote() -> list[str]:
    """Campaigns with auto_promote and a clear winner send it to everyone outside the holdout;
    a failure here never fails the tick either."""
    try:
        outcome = runtime.auto_promote_service().run()
    except Exception:
        logger.exception("auto-promote failed; retried on the next tick")
        return []
    for campaign_id in outcome.promoted:
        logger.warning("campaign variant auto-promoted", campaign_id=campaign_id)
    metrics.add_metric("CampaignsAutoPromoted", MetricUnit.Count, len(outcome.promoted))
    return outcome.promoted


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


def _segment_health() -> list[str]:
    """Once a day: named segments' sampled sizes, and alerts on week-over-week swings (the
    segments alerted on this tick); never fails the tick either."""
    try:
        outcome = runtime.segment_health_service().run()
    except Exception:
        logger.exception("segment health failed; retried on the next tick")
        return []
    if outcome is None:
        return []
    for failure in outcome.alert_failures:
        logger.error("segment health alert not delivered", detail=failure)
    alerted = [alert["segment"] for alert in outcome.alerts]
    logger.info("segment health", day=outcome.day, measured=outcome.measured, alerted=alerted)
    metrics.add_metric("SegmentHealthAlerts", MetricUnit.Count, len(alerted))
    return alerted


def _regional_model() -> str | None:
    """At most every `regional_model.every_hours`: the regional response model refitted on
    the breakdown counters and published for targeting (its `since..until` when it ran);
    never fails the tick either."""
    try:
        model = runtime.regional_model_service().run()
    except Exception:
        logger.exception("regional response model failed; retried on the next tick")
        return None
    if model is None:
        return None
    logger.info(
        "regional response model published",
        since=model.since,
        until=model.until,
        categories=sorted(model.categories),
    )
    return f"{model.since}..{model.until}"
