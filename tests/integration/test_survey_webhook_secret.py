"""Over moto, with the template's environments and IAM: a deployment without
DetractorWebhookSecretArn refuses a survey with an `on_detractor.webhook`, through the admin API
(400 naming the field) and the configs bucket (a load error on the key); with the secret, both
publish it (issue 20, item 4)."""

from __future__ import annotations

from typing import Any

import pytest

from nudge import runtime
from tests.integration.conftest import Aws
from tests.integration.test_configs import admin, upload
from tests.unit.test_survey_webhook_secret import WEBHOOK_LINE, WEBHOOK_SURVEY

pytestmark = pytest.mark.integration

KEY = "surveys/nps-webhook.yaml"
ROUTE = "/admin/v1/surveys/{survey_id}"


def put_survey(aws: Aws) -> tuple[int, Any]:
    return admin(
        aws,
        "PUT",
        "/admin/v1/surveys/nps-webhook",
        {"yaml": WEBHOOK_SURVEY},
        route=ROUTE,
        params={"survey_id": "nps-webhook"},
    )


def test_without_the_secret_both_publish_paths_refuse_a_webhook_survey(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.deploy_with(monkeypatch, DetractorWebhookSecretArn="")
    status, body = put_survey(aws)
    assert status == 400
    problem = f"{KEY}:{WEBHOOK_LINE}: on_detractor.webhook: "
    assert problem in str(body) and "DetractorWebhookSecretArn" in str(body)

    (result,) = upload(aws, KEY, WEBHOOK_SURVEY)["results"]
    assert result["result"] == "rejected"
    (message,) = result["problems"]
    assert message.startswith(problem) and "DetractorWebhookSecretArn" in message
    assert runtime.config_store().head("survey", "nps-webhook") is None


def test_with_the_secret_both_publish_paths_accept_it(aws: Aws) -> None:
    status, body = put_survey(aws)
    assert (status, body["version"]) == (200, 1), body
    (result,) = upload(aws, KEY, WEBHOOK_SURVEY.replace("status: active", "status: paused"))[
        "results"
    ]
    assert (result["result"], result["version"]) == ("loaded", 2), result
