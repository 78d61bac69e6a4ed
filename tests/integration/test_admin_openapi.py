"""The admin API's OpenAPI document and response models, checked against the real handler.

Each admin route declares its answers (`responses=`) with the models of nudge.api.admin_models
and admin_config_models; the routes still return the services' dicts, so the JSON is what it
was. Here the real answers (over moto) must fit the declared model exactly: `extra="forbid"`
fails on a key the model does not name, and dumping the parsed model gives the body back.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from nudge.api.openapi import ADMIN_OPENAPI_PATH, admin_resolver, build_admin_openapi
from nudge_local.template import read_stack
from tests.integration.conftest import Aws
from tests.integration.test_api_fuzz import VALID, prepare, request, send
from tests.integration.test_handlers import api_event

pytestmark = pytest.mark.integration

ROUTES = {f"{r.method} {r.path}": r for r in read_stack().routes}


def declared() -> dict[tuple[str, str, int], Any]:
    """(method, path, status) -> the model the route declares for that answer."""
    found = {}
    app = admin_resolver()
    for route in app._static_routes + app._dynamic_routes:
        for status, response in (route.responses or {}).items():
            content = response.get("content", {}).get("application/json", {})
            if "model" in content:
                found[(route.method, route.openapi_path, status)] = content["model"]
    return found


DECLARED = declared()


def check_shape(route_key: str, answer: dict[str, Any]) -> Any:
    method, path = route_key.split(" ", 1)
    model = DECLARED[(method, path, answer["statusCode"])]
    body = json.loads(answer["body"])
    parsed = TypeAdapter(model).validate_python(body)
    dumped = (
        parsed.model_dump(mode="json", exclude_unset=True)
        if isinstance(parsed, BaseModel)
        else TypeAdapter(model).dump_python(parsed, mode="json", exclude_unset=True)
    )
    assert dumped == body, route_key
    return body


def test_committed_admin_document_matches_the_code() -> None:
    assert ADMIN_OPENAPI_PATH.read_text() == build_admin_openapi(), (
        "shared/nudge/api/admin-openapi.json is stale: run `make openapi`"
    )


def test_every_admin_route_is_documented_with_its_answers() -> None:
    document = json.loads(ADMIN_OPENAPI_PATH.read_text())
    for key, route in ROUTES.items():
        if not route.path.startswith("/admin/") or route.path == "/admin/v1/openapi.json":
            continue
        operation = document["paths"][route.path][route.method.lower()]
        assert "403" in operation["responses"], key  # IAM, checked by API Gateway
        success = [s for s in operation["responses"] if s.startswith("2")]
        assert success, key
        assert "422" not in operation["responses"], key  # validation is answered 400
    assert "/admin/v1/openapi.json" not in document["paths"]


def test_document_is_served_with_sigv4(aws: Aws) -> None:
    route = ROUTES["GET /admin/v1/openapi.json"]
    assert route.auth == "iam" and route.function == "AdminApiFunction"
    answer = aws.invoke("AdminApiFunction", api_event("GET", "/admin/v1/openapi.json"))
    assert answer["statusCode"] == 200
    assert answer["body"] == ADMIN_OPENAPI_PATH.read_text()
    assert "/admin/v1/reports/lifecycle" in json.loads(answer["body"])["paths"]


def get(aws: Aws, route_key: str, params: dict[str, str] | None = None, **query: str) -> Any:
    route = ROUTES[route_key]
    return aws.invoke(route.function, request(route, params or {}, None, query))


def test_answers_fit_their_declared_models(aws: Aws) -> None:
    prepare(aws)
    checked = set()
    for route_key, (_, body) in VALID.items():
        if " /admin/" not in route_key:
            continue
        answer = send(aws, route_key, body)
        assert answer["statusCode"] < 300, answer
        check_shape(route_key, answer)
        checked.add(route_key)
    broadcast = json.loads(
        send(aws, "POST /admin/v1/broadcasts", VALID["POST /admin/v1/broadcasts"][1])["body"]
    )
    message = json.loads(
        send(
            aws,
            "POST /admin/v1/users/{user_id}/messages",
            VALID["POST /admin/v1/users/{user_id}/messages"][1],
        )["body"]
    )
    gets = [
        ("GET /admin/v1/users/{user_id}", {"user_id": "fuzz-user"}, {}),
        ("GET /admin/v1/reports/lifecycle", {}, {}),
        ("GET /admin/v1/reports/campaigns", {}, {}),
        ("GET /admin/v1/reports/campaigns/{campaign_id}", {"campaign_id": "onboarding"}, {}),
        (
            "GET /admin/v1/reports/campaigns/{campaign_id}/breakdown",
            {"campaign_id": "onboarding"},
            {"by": "segment"},
        ),
        ("GET /admin/v1/reports/categories/{category}/breakdown", {"category": "marketing"}, {}),
        ("GET /admin/v1/reports/sunset", {}, {}),
        ("GET /admin/v1/reports/engagement", {"days": "3"}, {}),
        ("GET /admin/v1/reports/segments", {}, {}),
        ("GET /admin/v1/reports/regions", {}, {"category": "marketing", "metric": "open"}),
        ("GET /admin/v1/campaigns", {}, {}),
        ("GET /admin/v1/campaigns/{campaign_id}", {"campaign_id": "onboarding"}, {}),
        ("DELETE /admin/v1/campaigns/{campaign_id}/promotion", {"campaign_id": "onboarding"}, {}),
        ("GET /admin/v1/segments", {}, {}),
        ("GET /admin/v1/surveys", {}, {}),
        ("GET /admin/v1/surveys/{survey_id}", {"survey_id": "nps-after-trip"}, {}),
        (
            "GET /admin/v1/reports/nps/{survey_id}",
            {"survey_id": "nps-after-trip"},
            {"by": "platform"},
        ),
        (
            "GET /admin/v1/reports/nps/{survey_id}",
            {"survey_id": "nps-after-trip"},
            {"themes": "false"},
        ),
        ("GET /admin/v1/geofences", {}, {}),
        ("GET /admin/v1/geofences/near", {}, {"lat": "52.37", "lng": "4.89"}),
        (
            "GET /admin/v1/broadcasts/{broadcast_id}",
            {"broadcast_id": broadcast["broadcast_id"]},
            {},
        ),
        ("GET /admin/v1/messages/{job_id}", {"job_id": message["job_id"]}, {}),
        (
            "DELETE /admin/v1/broadcasts/{broadcast_id}",
            {"broadcast_id": broadcast["broadcast_id"]},
            {},
        ),
        ("GET /admin/v1/users/{user_id}/decisions", {"user_id": "fuzz-user"}, {}),
        ("DELETE /admin/v1/users/{user_id}", {"user_id": "fuzz-user"}, {}),
    ]
    for route_key, params, query in gets:
        if route_key == "GET /admin/v1/reports/engagement":
            params, query = {}, params
        answer = get(aws, route_key, params, **query)
        assert answer["statusCode"] == 200, (route_key, answer)
        check_shape(route_key, answer)
        checked.add(route_key)
    posts = [
        (
            "POST /admin/v1/campaigns/{campaign_id}/restore",
            {"campaign_id": "onboarding"},
            {"version": 1},
        ),
        (
            "POST /admin/v1/geofences/{set_id}/status",
            {"set_id": "stations"},
            {"status": "archived"},
        ),
    ]
    for route_key, params, body in posts:
        route = ROUTES[route_key]
        answer = aws.invoke(route.function, request(route, params, json.dumps(body), {}))
        assert answer["statusCode"] == 200, (route_key, answer)
        check_shape(route_key, answer)
        checked.add(route_key)
    documented = {f"{m} {p}" for (m, p, s) in DECLARED if 200 <= s < 300}
    # every route with a JSON answer has been checked (the CSV export is no JSON)
    assert documented - checked == set(), documented - checked


def test_error_answers_fit_their_models(aws: Aws) -> None:
    missing = get(aws, "GET /admin/v1/broadcasts/{broadcast_id}", {"broadcast_id": "nope"})
    assert missing["statusCode"] == 404
    check_shape("GET /admin/v1/broadcasts/{broadcast_id}", missing)
    invalid = get(aws, "GET /admin/v1/reports/lifecycle", days="0")
    assert invalid["statusCode"] == 400
    assert check_shape("GET /admin/v1/reports/lifecycle", invalid)["errors"][0]["field"]
    bad_yaml = send(aws, "PUT /admin/v1/campaigns/{campaign_id}", {"yaml": "id: [unclosed"})
    assert bad_yaml["statusCode"] == 400
    assert "problems" in check_shape("PUT /admin/v1/campaigns/{campaign_id}", bad_yaml)
