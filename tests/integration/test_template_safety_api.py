"""Unsafe message templates over the admin API (real handler, moto): refused with a 400 that
names the field, the template line and the construct; one saved before the allow-list existed
is refused when used, never a 500 and never rendered."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nudge import runtime
from tests.integration.conftest import Aws
from tests.integration.test_handlers import api_event

pytestmark = pytest.mark.integration

HOSTILE = "{{ 'a'.ljust(300000000) }}"


def template_body(body: str) -> dict[str, Any]:
    return {"id": "hostile", "category": "internal", "text": {"en": {"title": "Hi", "body": body}}}


def put_template(aws: Aws, template: dict[str, Any]) -> dict[str, Any]:
    event = api_event(
        "PUT",
        "/admin/v1/templates/hostile",
        json.dumps(template),
        route="PUT /admin/v1/templates/{template_id}",
        params={"template_id": "hostile"},
    )
    return aws.invoke("AdminApiFunction", event)


def test_put_refuses_an_unsafe_template_naming_field_line_and_construct(aws: Aws) -> None:
    response = put_template(aws, template_body("Hello\n" + HOSTILE))
    assert response["statusCode"] == 400, response
    answer = json.loads(response["body"])
    (error,) = answer["errors"]
    assert error["field"].endswith("text.en.body")
    assert "line 2: calling .ljust() is not allowed" in error["error"]
    assert put_template(aws, template_body("Hello {{ name }}"))["statusCode"] == 200


def test_a_stored_unsafe_template_is_refused_when_used_not_a_500(aws: Aws) -> None:
    store = runtime.template_store()
    body = json.dumps(template_body(HOSTILE))  # saved before the allow-list: no validation
    store.ddb.put_item(
        TableName=store.table,
        Item={"template_id": {"S": "hostile"}, "body": {"S": body}, "updated_at": {"N": "1"}},
    )
    send = api_event(
        "POST",
        "/admin/v1/users/ann/messages",
        json.dumps({"template_id": "hostile", "dedupe_key": "k"}),
        route="POST /admin/v1/users/{user_id}/messages",
        params={"user_id": "ann"},
    )
    response = aws.invoke("AdminApiFunction", send)
    assert response["statusCode"] == 400, response
    assert "template_id" in response["body"] and "calling .ljust()" in response["body"]
    assert aws.receive_all("PushesQueue") == []
    broadcast = api_event(
        "POST",
        "/admin/v1/broadcasts",
        json.dumps({"template_id": "hostile", "target": {"all_users": True}, "dedupe_key": "b-1"}),
        route="POST /admin/v1/broadcasts",
    )
    response = aws.invoke("AdminApiFunction", broadcast)
    assert response["statusCode"] == 400, response
    assert "template_id" in response["body"] and "calling .ljust()" in response["body"]
