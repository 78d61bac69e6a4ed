"""The error bodies the functions and API Gateway really answer fit what both OpenAPI documents
say (found by `make fuzz`): a body that is not JSON is answered 400 before any config is read,
and API Gateway's JWT authorizer answers 401 with a bare `message`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from nudge.api.openapi import ADMIN_OPENAPI_PATH, MOBILE_OPENAPI_PATH

NOT_JSON = {"statusCode": 400, "message": "request body is not valid JSON: Expecting value"}
INVALID_FIELD = {
    "statusCode": 400,
    "message": "invalid request: body.yaml: Field required",
    "errors": [{"field": "body.yaml", "error": "Field required"}],
}
AUTHORIZER_401 = {"message": "Unauthorized"}
FUNCTION_401 = {"statusCode": 401, "message": "a valid bearer token with a subject is required"}


def _answers(path: Path, status: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    document = json.loads(path.read_text())
    return [
        (f"{method.upper()} {route}", document, operation["responses"][status])
        for route, methods in document["paths"].items()
        for method, operation in methods.items()
        if status in operation["responses"]
    ]


def _fits(document: dict[str, Any], response: dict[str, Any], body: dict[str, Any]) -> bool:
    # the document as the root: its "#/components/schemas/..." references resolve in it
    schema = {**document, "allOf": [response["content"]["application/json"]["schema"]]}
    return Draft202012Validator(schema).is_valid(body)


BAD_REQUESTS = _answers(MOBILE_OPENAPI_PATH, "400") + _answers(ADMIN_OPENAPI_PATH, "400")


@pytest.mark.parametrize(
    ("label", "document", "response"), BAD_REQUESTS, ids=[a[0] for a in BAD_REQUESTS]
)
def test_a_plain_bad_request_fits_every_documented_400(
    label: str, document: dict[str, Any], response: dict[str, Any]
) -> None:
    assert _fits(document, response, NOT_JSON), label
    assert _fits(document, response, INVALID_FIELD), label


UNAUTHORIZED = _answers(MOBILE_OPENAPI_PATH, "401")


@pytest.mark.parametrize(
    ("label", "document", "response"), UNAUTHORIZED, ids=[a[0] for a in UNAUTHORIZED]
)
def test_both_kinds_of_401_fit_the_mobile_document(
    label: str, document: dict[str, Any], response: dict[str, Any]
) -> None:
    assert _fits(document, response, AUTHORIZER_401), label
    assert _fits(document, response, FUNCTION_401), label


def test_every_mobile_operation_documents_401() -> None:
    document = json.loads(MOBILE_OPENAPI_PATH.read_text())
    operations = [op for methods in document["paths"].values() for op in methods.values()]
    assert len(UNAUTHORIZED) == len(operations)
