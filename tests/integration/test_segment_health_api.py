"""Segment health over moto with IAM enforced: the scheduler tick samples the profiles once a
day into one point, and GET /admin/v1/reports/segments reads it back with its model."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from tests.integration.conftest import Aws, sample_event
from tests.integration.test_handlers import api_event

pytestmark = pytest.mark.integration

SEGMENTS = b"""\
segments:
  commuters:
    lifecycle: [active]
"""


def test_the_tick_stores_a_daily_point_and_the_route_reports_it(aws: Aws) -> None:
    from nudge import runtime
    from nudge.adapters.segment_health import DynamoSegmentHealthStore
    from nudge.api.admin_models import SegmentsReport
    from nudge.models.profile import Profile, Stage

    loaded = runtime.campaign_configs().load_object("segments/core.yaml", SEGMENTS, None)
    assert loaded.result == "loaded"
    profiles = runtime.profile_store()
    for i in range(30):
        stage = Stage.ACTIVE if i % 3 == 0 else Stage.DORMANT
        assert profiles.save(Profile(user_id=f"u{i}", stage=stage), None, 1)
    result = aws.invoke("SchedulerFunction", sample_event("scheduler/tick.json"))
    assert result["segment_alerts"] == []
    today = aws.clock.now().date().isoformat()
    point = DynamoSegmentHealthStore("ProfilesTable").get(today)
    assert point is not None, "the scheduler could not sample or store the day's point"
    assert point.sizes["commuters"].estimate == 10 and point.sizes["commuters"].complete
    assert point.checked
    aws.clock.advance(timedelta(minutes=15))
    again = aws.invoke("SchedulerFunction", sample_event("scheduler/tick.json"))
    assert again["segment_alerts"] == []

    response = aws.invoke(
        "AdminApiFunction", api_event("GET", "/admin/v1/reports/segments", query="days=90")
    )
    assert response["statusCode"] == 200, response
    body = json.loads(response["body"])
    SegmentsReport.model_validate(body)  # extra="forbid": every key is documented
    row = body["segments"]["commuters"]
    assert row["size_last"] == {
        "day": today,
        "estimate": 10,
        "interval_95": [10, 10],
        "complete": True,
    }
    assert body["measured_days"] == 1 and len(row["weeks"]) == 12 and row["alerts"] == []
    bad = aws.invoke(
        "AdminApiFunction", api_event("GET", "/admin/v1/reports/segments", query="days=0")
    )
    assert bad["statusCode"] == 400 and "days" in json.loads(bad["body"])["message"]
