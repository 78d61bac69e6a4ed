"""The engagement report routes of the admin API (routes derived from template.yaml)."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import Aws
from tests.integration.test_handlers import api_event

pytestmark = pytest.mark.integration


def test_report_routes_answer_json_and_name_bad_input(aws: Aws) -> None:
    route = "GET /admin/v1/reports/campaigns/{campaign_id}"
    missing = api_event(
        "GET", "/admin/v1/reports/campaigns/nope", route=route, params={"campaign_id": "nope"}
    )
    response = aws.invoke("AdminApiFunction", missing)
    assert response["statusCode"] == 404
    assert "campaign_id" in json.loads(response["body"])["message"]
    bad = api_event("GET", "/admin/v1/reports/sunset", query="days=0")
    response = aws.invoke("AdminApiFunction", bad)
    assert response["statusCode"] == 400 and "days" in json.loads(response["body"])["message"]
    for path in ("/admin/v1/reports/sunset", "/admin/v1/reports/engagement"):
        response = aws.invoke("AdminApiFunction", api_event("GET", path, query="days=3"))
        assert response["statusCode"] == 200, response
        body = json.loads(response["body"])
        assert body["since"] <= body["until"]
    response = aws.invoke("AdminApiFunction", api_event("GET", "/admin/v1/reports/engagement"))
    assert len(json.loads(response["body"])["daily"]) == 30
    routes = (
        {f"{r.method} {r.path}" for r in aws.spec.routes} if hasattr(aws.spec, "routes") else set()
    )
    assert not routes or "GET /admin/v1/reports/campaigns/{campaign_id}" in routes
