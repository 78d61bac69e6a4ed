"""Campaign response by country through the real functions and their roles from template.yaml:
event_processor ADDs the cells to the history table in the profile's transaction (a missing
grant is denied here as in AWS), the admin API reads them back with intervals."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import Aws
from tests.integration.test_admin_openapi import check_shape
from tests.integration.test_handlers import api_event, deliver, good_event, post_events

pytestmark = pytest.mark.integration

WELCOME = """\
id: welcome
name: Welcome
category: marketing
status: active
trigger: {event: {name: signup_completed}}
goal: {event: purchase, within: 2d}
variants: [{id: a, title: Hi, body: Hello}]
"""


def _breakdown(aws: Aws, campaign: str, query: str) -> dict:  # type: ignore[type-arg]
    route = "GET /admin/v1/reports/campaigns/{campaign_id}/breakdown"
    path = f"/admin/v1/reports/campaigns/{campaign}/breakdown"
    event = api_event("GET", path, route=route, params={"campaign_id": campaign}, query=query)
    return aws.invoke("AdminApiFunction", event)  # type: ignore[no-any-return]


def test_sends_and_conversions_by_country_through_the_functions(aws: Aws) -> None:
    from nudge import runtime
    from nudge.models.device import Preferences

    loaded = runtime.campaign_configs().load_object(
        "campaigns/welcome.yaml", WELCOME.encode(), None
    )
    assert loaded.result == "loaded"
    users = {"ann": "NL", "bob": "NL", "cid": "BE"}
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
    assert not aws.iam.denials

    response = _breakdown(aws, "welcome", "by=country&days=7")
    assert response["statusCode"] == 200, response
    body = check_shape("GET /admin/v1/reports/campaigns/{campaign_id}/breakdown", response)
    rows = {row["value"]: row for row in body["rows"]}
    assert rows["NL"]["sent"] == 2 and rows["NL"]["conversion"]["count"] == 1
    assert rows["NL"]["conversion"]["ci_pct"][0] < 50 < rows["NL"]["conversion"]["ci_pct"][1]
    assert rows["BE"]["sent"] == 1 and rows["BE"]["conversion"]["count"] == 0
    assert not rows["NL"]["enough_data"] and body["min_group"] == 30  # too little data
    by_platform = json.loads(_breakdown(aws, "welcome", "by=platform")["body"])
    assert by_platform["rows"][0]["value"] == "ios" and by_platform["rows"][0]["sent"] == 3

    # the category sums its campaigns
    route = "GET /admin/v1/reports/categories/{category}/breakdown"
    path = "/admin/v1/reports/categories/marketing/breakdown"
    event = api_event("GET", path, route=route, params={"category": "marketing"})
    answer = aws.invoke("AdminApiFunction", event)
    category = check_shape("GET /admin/v1/reports/categories/{category}/breakdown", answer)
    assert category["campaigns"] == ["welcome"] and len(category["rows"]) == 2


def test_bad_input_is_named_and_unknown_campaigns_are_404(aws: Aws) -> None:
    missing = _breakdown(aws, "nope", "")
    assert missing["statusCode"] == 404 and "campaign_id" in json.loads(missing["body"])["message"]
    from nudge import runtime

    runtime.campaign_configs().load_object("campaigns/welcome.yaml", WELCOME.encode(), None)
    for query, field in (("by=galaxy", "by"), ("days=0", "days"), ("rank_by=x", "rank_by")):
        response = _breakdown(aws, "welcome", query)
        assert response["statusCode"] == 400, response
        assert field in json.loads(response["body"])["message"]
