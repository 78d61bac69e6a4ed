"""The mobile OpenAPI document describes every answer with its body: the app developers generate
their Swift and Kotlin clients from it (the fuzzer, tests/e2e/test_api_fuzz_schemathesis.py,
checks the real answers against it)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nudge.api.openapi import MOBILE_OPENAPI_PATH

DOCUMENT = json.loads(MOBILE_OPENAPI_PATH.read_text())
OPERATIONS = [
    (f"{method.upper()} {path}", operation)
    for path, methods in DOCUMENT["paths"].items()
    for method, operation in methods.items()
]


def _schema(response: dict[str, Any]) -> dict[str, Any]:
    schema = response["content"]["application/json"]["schema"]
    while "$ref" in schema:
        schema = DOCUMENT["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


@pytest.mark.parametrize(("label", "operation"), OPERATIONS, ids=[op[0] for op in OPERATIONS])
def test_success_is_documented_with_its_body(label: str, operation: dict[str, Any]) -> None:
    successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
    assert successes, f"{label}: no success answer documented"
    for code, response in successes.items():
        if code == "204":
            assert "content" not in response, f"{label}: a 204 has no body"
        else:
            assert _schema(response).get("type") == "object", f"{label} {code}: no body schema"


@pytest.mark.parametrize(("label", "operation"), OPERATIONS, ids=[op[0] for op in OPERATIONS])
def test_every_error_is_a_json_message(label: str, operation: dict[str, Any]) -> None:
    errors = {code: r for code, r in operation["responses"].items() if code[0] in "45"}
    assert {"400", "401", "403", "503"} <= set(errors), f"{label}: {sorted(errors)}"
    assert "422" not in errors, f"{label}: validation failures are answered 400"
    for code, response in errors.items():
        schema = _schema(response)
        assert "message" in schema["required"], f"{label} {code}"
        assert schema["properties"]["message"]["type"] == "string", f"{label} {code}"


def test_routes_with_a_body_document_the_size_limit() -> None:
    for label, operation in OPERATIONS:
        if "requestBody" in operation:
            assert "413" in operation["responses"], label
