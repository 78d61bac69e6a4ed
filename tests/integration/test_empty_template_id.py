"""An empty `template_id` (found by `make fuzz`) is a 400 naming the field, never a 500 from
DynamoDB refusing an empty key: for a single message and for a broadcast."""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import Aws
from tests.integration.test_handlers import api_event

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    ("path", "route", "body"),
    [
        (
            "/admin/v1/users/ann/messages",
            "POST /admin/v1/users/{user_id}/messages",
            {"template_id": "", "dedupe_key": "k1"},
        ),
        (
            "/admin/v1/broadcasts",
            "POST /admin/v1/broadcasts",
            {"template_id": "", "dedupe_key": "k2", "target": {"all_users": True}},
        ),
    ],
)
def test_an_empty_template_id_is_a_400(aws: Aws, path: str, route: str, body: dict) -> None:
    params = {"user_id": "ann"} if "{user_id}" in route else {}
    response = aws.invoke(
        "AdminApiFunction", api_event("POST", path, json.dumps(body), route=route, params=params)
    )
    assert response["statusCode"] == 400, response
    assert "template_id" in json.loads(response["body"])["message"]
