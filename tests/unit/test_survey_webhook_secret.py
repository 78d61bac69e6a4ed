"""A survey with an `on_detractor.webhook` is refused when published to a deployment without a
webhook signing secret (DetractorWebhookSecretArn), in both publish paths; the CLI's offline
check only warns (issue 20, item 4)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from nudge.clock import ManualClock
from nudge.configfiles import ConfigError
from nudge.services.configs.store import ConfigStore
from nudge.services.nps.survey_configs import SurveyConfigService
from nudge_cli.main import main
from nudge_local.resources import Resolver, template_parameters
from nudge_local.stack_environments import create_detractor_secret, function_environments
from nudge_local.template import read_stack
from tests.fakes.memory import InMemoryConfigTable

WEBHOOK_SURVEY = """id: nps-webhook
status: active
trigger: { event: trip_completed }
questions: { score: "How likely are you to recommend us?" }
on_detractor:
  webhook: https://tickets.example.com/hook
"""
WEBHOOK_LINE = 6
SNS_SURVEY = WEBHOOK_SURVEY.replace(
    "  webhook: https://tickets.example.com/hook",
    "  sns_topic_arn: arn:aws:sns:us-east-1:123456789012:nudge-detractors-nps",
)
PUBLISHERS = ("AdminApiFunction", "ConfigLoaderFunction")


def service(clock: ManualClock, **secret: bool) -> SurveyConfigService:
    return SurveyConfigService(ConfigStore(InMemoryConfigTable(), clock, 0), clock, **secret)


def test_publishing_a_webhook_survey_without_a_signing_secret_is_refused(
    clock: ManualClock,
) -> None:
    surveys = service(clock)  # the default: no secret known, so refused (fails closed)
    with pytest.raises(ConfigError) as caught:
        surveys.publish(WEBHOOK_SURVEY, "surveys/nps-webhook.yaml")
    ((problem),) = caught.value.problems
    assert (problem.source, problem.line, problem.field) == (
        "surveys/nps-webhook.yaml",
        WEBHOOK_LINE,
        "on_detractor.webhook",
    )
    assert "DetractorWebhookSecretArn" in problem.message
    assert surveys.surveys(fresh=True) == {}  # nothing was stored


def test_the_config_loader_records_the_refusal_on_the_key(clock: ManualClock) -> None:
    surveys = service(clock, webhook_secret_configured=False)
    outcome = surveys.load_object("surveys/nps-webhook.yaml", WEBHOOK_SURVEY.encode(), "v1")
    assert outcome.result == "rejected"
    ((problem),) = outcome.problems
    assert (problem.line, problem.field) == (WEBHOOK_LINE, "on_detractor.webhook")
    (row,) = surveys.list_surveys()
    assert row["status"] == "not loaded"
    assert any("DetractorWebhookSecretArn" in str(error) for error in row["errors"])


def test_with_a_signing_secret_the_webhook_survey_is_published(clock: ManualClock) -> None:
    surveys = service(clock, webhook_secret_configured=True)
    assert surveys.publish(WEBHOOK_SURVEY, "surveys/nps-webhook.yaml").created
    outcome = surveys.load_object("surveys/nps-webhook.yaml", WEBHOOK_SURVEY.encode(), "v1")
    assert outcome.result in {"loaded", "unchanged"}
    webhook = surveys.surveys(fresh=True)["nps-webhook"].on_detractor
    assert webhook is not None and webhook.webhook == "https://tickets.example.com/hook"


def test_a_survey_routing_detractors_to_sns_only_needs_no_secret(clock: ManualClock) -> None:
    assert service(clock).publish(SNS_SURVEY, "surveys/nps-webhook.yaml").created


def test_both_publishing_functions_get_the_secret_parameter() -> None:
    """admin_api and config_loader see whether a secret is configured (the variable only: a
    presence check needs no secretsmanager permission)."""
    spec = read_stack()
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:detractor-AbCdEf"
    parameters = {
        "JwtIssuer": "https://issuer.test",
        "JwtAudience": "app",
        "FcmCredentialsSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:f-AbCdEf",
        "DetractorWebhookSecretArn": secret,
    }
    resolver = Resolver(template_parameters(spec, parameters))
    environments = function_environments(spec, resolver, {}, {})
    for name in (*PUBLISHERS, "DetractorRouterFunction"):
        assert environments[name]["NUDGE_DETRACTOR_SECRET_ARN"] == secret, name


def test_the_local_stack_creates_a_signing_secret_as_an_operator_would() -> None:
    with mock_aws():
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        arn = create_detractor_secret(secrets)
        value = secrets.get_secret_value(SecretId=arn)["SecretString"]
    assert arn.startswith("arn:aws:secretsmanager:") and len(value) >= 32


def test_the_offline_validate_warns_that_the_deployment_needs_the_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "nps-webhook.yaml"
    path.write_text(WEBHOOK_SURVEY)
    assert main(["survey", "validate", str(path)]) == 0  # a warning, not a failure
    captured = capsys.readouterr()
    assert "survey 'nps-webhook' is valid" in captured.out
    assert f"{path}:{WEBHOOK_LINE}: on_detractor.webhook: " in captured.err
    assert "DetractorWebhookSecretArn" in captured.err

    path.write_text(SNS_SURVEY)
    assert main(["survey", "validate", str(path)]) == 0
    assert "DetractorWebhookSecretArn" not in capsys.readouterr().err
