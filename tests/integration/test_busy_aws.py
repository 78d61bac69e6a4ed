"""Faults on purpose, through the real handlers: AWS still throttling after the SDK's retries
is a 503 with Retry-After (never a 500), and a device whose facts can't be queued is not
stored, so the app's retry sends them (chaos found both)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from nudge_local import faults
from tests.integration.conftest import Aws
from tests.integration.test_handlers import api_event


def _always(service: str, error: str, **scope: Any) -> dict[str, Any]:
    return {"seed": 1, "rules": [{"service": service, "error": error, "rate": 1.0, **scope}]}


def test_a_throttled_read_is_a_503_with_retry_after(aws: Aws) -> None:
    with faults.injected(_always("dynamodb", "ProvisionedThroughputExceededException")):
        answer = aws.invoke("SurveysApiFunction", api_event("GET", "/v1/me/surveys/next"))
    assert answer["statusCode"] == 503, answer
    assert answer["headers"]["Retry-After"] == "2"
    assert "retry" in json.loads(answer["body"])["message"]


def test_a_device_whose_facts_cannot_be_queued_is_not_stored_and_the_retry_sends_them(
    aws: Aws,
) -> None:
    device = {
        "token": "token-of-ann-1",
        "platform": "android",
        "locale": "nl-NL",
        "timezone": "Europe/Amsterdam",
    }
    put = api_event(
        "PUT",
        "/v1/devices/phone",
        json.dumps(device),
        route="PUT /v1/devices/{device_id}",
        params={"device_id": "phone"},
    )
    with faults.injected(
        _always("sqs", "InternalFailure", operations=["SendMessage", "SendMessageBatch"])
    ):
        refused = aws.invoke("DevicesApiFunction", put)
    assert refused["statusCode"] == 503, refused
    listed = aws.invoke("DevicesApiFunction", api_event("GET", "/v1/me/devices"))
    assert json.loads(listed["body"])["devices"] == []
    assert aws.receive_all("EventsQueue") == []
    stored = aws.invoke("DevicesApiFunction", put)  # the app retries
    assert stored["statusCode"] == 200, stored
    queued = [json.loads(m["Body"]) for m in aws.receive_all("EventsQueue")]
    assert [e["name"] for batch in queued for e in batch["events"]] == ["user_attributes"]


@pytest.mark.parametrize(
    ("code", "transient"),
    [
        ("ProvisionedThroughputExceededException", True),
        ("ThrottlingException", True),
        ("InternalServerError", True),
        ("AccessDeniedException", False),  # a bug or a missing grant: a 500 and an alarm
        ("ValidationException", False),
        ("ConditionalCheckFailedException", False),
    ],
)
def test_only_transient_aws_errors_become_503(code: str, transient: bool) -> None:
    from botocore.exceptions import ClientError

    from nudge.api.http import transient_aws_error

    error = ClientError({"Error": {"Code": code, "Message": "x"}}, "GetItem")
    assert transient_aws_error(error) is transient
