"""Local-only settings (emulator endpoints, inline secrets) take effect only in the local stack,
never in a deployed Lambda (issue 20, item 7)."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from nudge.settings import (
    LOCAL_ONLY_SETTINGS,
    LOCAL_STACK_MARKER,
    Settings,
    running_in_local_stack,
)
from nudge_local.resources import Resolver, template_parameters
from nudge_local.stack_environments import fcm_environment, function_environments
from nudge_local.template import TEMPLATE_PATH, load_template, read_stack

LOCAL_ONLY = {
    "NUDGE_FCM_ENDPOINT": "https://fcm.example.invalid",
    "NUDGE_FCM_CREDENTIALS_JSON": '{"type": "service_account"}',
    "NUDGE_DETRACTOR_SECRET": "s3cret",
}
# What the Lambda runtime sets in every execution environment.
LAMBDA = {
    "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
    "AWS_LAMBDA_FUNCTION_NAME": "nudge-PushSenderFunction",
}
FAKE_EMULATOR: Any = SimpleNamespace(url="https://127.0.0.1:9", ca_path=Path("/tmp/ca.pem"))


def local_only_values(settings: Settings) -> dict[str, str]:
    return {name: getattr(settings, name) for name in LOCAL_ONLY_SETTINGS}


def test_the_local_only_settings_are_the_ones_this_test_sets() -> None:
    assert {f"NUDGE_{name.upper()}" for name in LOCAL_ONLY_SETTINGS} == set(LOCAL_ONLY)


def test_in_a_lambda_they_are_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="nudge.settings"):
        settings = Settings.from_environment({**LAMBDA, **LOCAL_ONLY, "NUDGE_FCM_PROJECT_ID": "p"})
    assert local_only_values(settings) == dict.fromkeys(LOCAL_ONLY_SETTINGS, "")
    assert settings.fcm_project_id == "p"  # the rest still applies
    (warning,) = caplog.records
    assert all(name in warning.getMessage() for name in LOCAL_ONLY)
    assert "s3cret" not in warning.getMessage()  # names, never values


def test_a_marker_copied_into_a_lambda_changes_nothing() -> None:
    environ = {**LAMBDA, **LOCAL_ONLY, LOCAL_STACK_MARKER: "1"}
    assert not running_in_local_stack(environ)
    assert local_only_values(Settings.from_environment(environ)) == dict.fromkeys(
        LOCAL_ONLY_SETTINGS, ""
    )


def test_without_the_local_stack_marker_they_are_ignored() -> None:
    settings = Settings.from_environment(LOCAL_ONLY)
    assert local_only_values(settings) == dict.fromkeys(LOCAL_ONLY_SETTINGS, "")


def test_in_the_local_stack_they_are_honoured(caplog: pytest.LogCaptureFixture) -> None:
    spec = read_stack()
    fcm_env = fcm_environment(FAKE_EMULATOR)
    environments = function_environments(spec, _resolver(spec), {"PATH": "/bin"}, fcm_env)
    push_sender = {**environments["PushSenderFunction"], **LOCAL_ONLY}
    assert running_in_local_stack(push_sender)
    with caplog.at_level(logging.WARNING, logger="nudge.settings"):
        settings = Settings.from_environment(push_sender)
    assert settings.fcm_endpoint == LOCAL_ONLY["NUDGE_FCM_ENDPOINT"]
    assert settings.fcm_credentials_json == LOCAL_ONLY["NUDGE_FCM_CREDENTIALS_JSON"]
    assert settings.detractor_secret == "s3cret"
    assert not caplog.records
    # every function of the local stack carries the marker, not only those that talk to FCM
    assert all(running_in_local_stack(env) for env in environments.values())


def test_the_emulator_environment_alone_takes_effect() -> None:
    settings = Settings.from_environment(fcm_environment(FAKE_EMULATOR))
    assert settings.fcm_endpoint == FAKE_EMULATOR.url


def test_template_never_sets_the_marker_nor_a_local_only_setting() -> None:
    assert LOCAL_STACK_MARKER not in TEMPLATE_PATH.read_text()
    template = load_template()
    blocks = [template.get("Globals", {}).get("Function", {})] + [
        resource.get("Properties", {}) for resource in template["Resources"].values()
    ]
    for block in blocks:
        variables = block.get("Environment", {}).get("Variables", {})
        assert LOCAL_STACK_MARKER not in variables
        assert not set(LOCAL_ONLY) & set(variables)


def _resolver(spec: Any) -> Resolver:
    secret = "arn:aws:secretsmanager:us-east-1:123456789012:secret:fcm-AbCdEf"
    deploy = {"JwtIssuer": "https://issuer.test", "JwtAudience": "app"}
    return Resolver(template_parameters(spec, {**deploy, "FcmCredentialsSecretArn": secret}))
