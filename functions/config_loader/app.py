"""config_loader: S3 uploads of configs become versions (or load errors): campaigns/<id>.yaml,
segments/<name>.yaml, NPS surveys surveys/<id>.yaml and fence sets
geofences/<set_id>.geojson|.csv (whose validated, normalized fences are written back under
published/geofences/, which notifies nothing).

A bad file is not an error of this function: its problems are recorded on the object key
(`nudge campaign list`, GET /admin/v1/campaigns), logged and counted, and the previous version
stays current. AWS failures raise, so the asynchronous retries and the DLQ apply. Events may
arrive out of order: an event for a version that is no longer the object's current one is
skipped (the newer upload, or the deletion, has its own event).
"""

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from nudge import runtime
from nudge.adapters.configs import S3ConfigObjects
from nudge.models.configs import parse_key

logger = Logger()
tracer = Tracer()
metrics = Metrics()
objects = S3ConfigObjects()

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
    bucket = s3["bucket"]["name"]
    key = unquote_plus(s3["object"]["key"])
    version_id = s3["object"].get("versionId")
    parsed = parse_key(key)
    kind = parsed[0] if parsed is not None else None
    service: Any = (
        runtime.fence_sets()
        if kind == "geofences"
        else runtime.survey_configs()
        if kind == "survey"
        else runtime.campaign_configs()
    )
    current = objects.current_version(bucket, key)
    if record["eventName"].startswith("ObjectRemoved"):
        if current is not None:  # uploaded again since: that upload has its own event
            return {"key": key, "result": "superseded"}
        outcome = service.object_removed(key)
    else:
        if current is None or (version_id and current != version_id):
            return {"key": key, "result": "superseded"}
        body = objects.read(bucket, key, version_id)
        if body is None:
            return {"key": key, "result": "superseded"}
        outcome = service.load_object(key, body, version_id)
    result = {"key": key, "result": outcome.result, "version": outcome.version}
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
