"""config_loader: S3 uploads of configs become versions (or load errors): campaigns/<id>.yaml,
segments/<name>.yaml, NPS surveys surveys/<id>.yaml and fence sets
geofences/<set_id>.geojson|.csv (whose validated, normalized fences are written back under
published/geofences/, which notifies nothing).

A bad file is not an error of this function: its problems are recorded on the object key
(`nudge campaign list`, GET /admin/v1/campaigns), logged and counted, and the previous version
stays current; that holds for hostile files too (alias or nesting bombs; an object over its
kind's size limit is refused by its size, unread). AWS failures raise, so the asynchronous
retries and the DLQ apply. Events may arrive out of order: an event for a version that is no
longer the object's current one is skipped (the newer upload, or the deletion, has its own
event).
"""

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudge import runtime

logger = Logger()
tracer = Tracer()
metrics = Metrics()

METRIC = {
    "loaded": "ConfigsLoaded",
    "unchanged": "ConfigsUnchanged",
    "rejected": "ConfigsRejected",
    "archived": "ConfigsArchived",
    "superseded": "ConfigEventsSuperseded",
    "ignored": "ConfigEventsIgnored",
}


def _handle(record: dict[str, Any]) -> dict[str, Any]:
    s3 = record["s3"]
    outcome = runtime.config_loader().handle(
        record["eventName"],
        s3["bucket"]["name"],
        unquote_plus(s3["object"]["key"]),
        s3["object"].get("versionId"),
    )
    result = {"key": outcome.key, "result": outcome.result}
    if outcome.result != "superseded":
        result["version"] = outcome.version
    if outcome.problems:
        result["problems"] = [str(problem) for problem in outcome.problems]
        logger.warning("config rejected", extra=result)
    else:
        logger.info("config processed", extra=result)
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    results = [_handle(record) for record in event.get("Records", [])]
    for result in results:
        metrics.add_metric(METRIC[result["result"]], MetricUnit.Count, 1)
    return {"results": results}
