"""The regional response model through the real functions and their roles from template.yaml:
event_processor counts the cells, the scheduler tick fits and publishes the model (its Query
on the history table and its catalog write are IAM-checked as in AWS), the pipeline's catalog
read carries it, and the admin API reports it."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from tests.integration.conftest import Aws, sample_event
from tests.integration.test_admin_openapi import check_shape
from tests.integration.test_breakdown_api import WELCOME
from tests.integration.test_handlers import api_event, deliver, good_event, post_events

pytestmark = pytest.mark.integration
ROUTE = "GET /admin/v1/reports/regions"


def _report(aws: Aws, query: str) -> dict[str, Any]:
    event = api_event("GET", "/admin/v1/reports/regions", route=ROUTE, query=query)
    return aws.invoke("AdminApiFunction", event)


def test_the_tick_publishes_the_model_and_the_admin_api_reports_it(aws: Aws) -> None:
    from nudge import runtime
    from nudge.models.device import Preferences

    loaded = runtime.campaign_configs().load_object(
        "campaigns/welcome.yaml", WELCOME.encode(), None
    )
    assert loaded.result == "loaded"
    users = {"ann": "NL", "bob": "NL", "cid": "BE", "dan": "BE"}
    for user, country in users.items():
        runtime.device_store().save_preferences(
            Preferences(user_id=user, categories={"marketing": True}), None
        )
        events = [
            good_event(1, aws, "user_attributes", country=country, platform="ios"),
            good_event(2, aws, "signup_completed"),
        ]
        assert post_events(aws, events, user)["statusCode"] == 202
    deliver(aws)
    assert post_events(aws, [good_event(3, aws, "purchase")], "ann")["statusCode"] == 202
    deliver(aws)
    aws.clock.advance(timedelta(days=1))  # the model reads whole days: yesterday's counts

    tick = aws.invoke("SchedulerFunction", sample_event("scheduler/tick.json"))
    assert tick["regional_model"] is not None, tick
    assert (
        aws.invoke("SchedulerFunction", sample_event("scheduler/tick.json"))["regional_model"]
        is None
    )  # published within the period: nothing refitted
    assert not aws.iam.denials
    published = runtime.config_store().current().response_model
    assert published is not None
    conversion = published.predictions("marketing", "conversion")
    assert conversion is not None and set(conversion.regions) == {"NL", "BE"}
    assert conversion.overall == pytest.approx(0.25)

    response = _report(aws, "category=marketing&metric=conversion")
    assert response["statusCode"] == 200, response
    body = check_shape(ROUTE, response)
    fit = body["metrics"]["conversion"]
    assert {row["region"] for row in fit["regions"]} == {"NL", "BE"}
    assert fit["better"] == [] and fit["worse"] == []  # four users prove nothing
    assert body["published_at"] is not None and body["level"] == "country"

    missing = _report(aws, "category=internal")
    assert missing["statusCode"] == 404 and "category" in json.loads(missing["body"])["message"]
    bad = _report(aws, "category=marketing&metric=clicks")
    assert bad["statusCode"] == 400 and "metric" in json.loads(bad["body"])["message"]
