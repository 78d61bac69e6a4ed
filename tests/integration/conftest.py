"""moto-backed fixtures: every table, index and queue is created from template.yaml."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from nudge import runtime
from nudge.adapters import aws as aws_clients
from nudge.clock import ManualClock
from nudge.settings import get_settings
from nudge_local import iam
from nudge_local.fcm_emulator import FcmEmulator
from nudge_local.functions import LocalFunction
from nudge_local.resources import Resolver, create_resources, template_parameters
from nudge_local.template import PROJECT_ROOT, StackSpec, read_stack
from tests.conftest import START

EVENTS_DIR = PROJECT_ROOT / "events"


@dataclass
class Aws:
    ddb: Any
    sqs: Any
    resolver: Resolver
    spec: StackSpec
    clock: ManualClock
    functions: dict[str, LocalFunction]
    iam: iam.Enforcement

    def queue_url(self, logical: str) -> str:
        return self.resolver.physical[logical]["QueueUrl"]

    def deploy_with(self, monkeypatch: pytest.MonkeyPatch, **parameters: str) -> None:
        """Template parameters as `sam deploy --parameter-overrides` would set them: every
        function's environment and IAM role follow, as in a redeploy."""
        self.resolver.parameters.update(parameters)
        _set_environment(self.spec, self.resolver, monkeypatch)
        _reset_caches()
        self.iam = iam.enforce_for_stack(self.spec, self.resolver)

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        return self.functions[function].invoke(event)

    def receive_all(self, logical: str) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(
                QueueUrl=self.queue_url(logical), MaxNumberOfMessages=10, AttributeNames=["All"]
            ).get("Messages", [])
            if not batch:
                return messages
            messages.extend(batch)


def sqs_record(message: dict[str, Any], queue: str, **attributes: str) -> dict[str, Any]:
    """A received SQS message as the event source hands it to a function; `attributes`
    override the message's own (e.g. ApproximateReceiveCount="2" for a redelivery)."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {**message.get("Attributes", {}), **attributes},
        "messageAttributes": {},
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}",
        "awsRegion": "us-east-1",
    }


def sqs_event(queue: str, messages: list[dict[str, Any]], **attributes: str) -> dict[str, Any]:
    """An SQS batch event of received messages (see sqs_record)."""
    return {"Records": [sqs_record(m, queue, **attributes) for m in messages]}


CLOSED_PORT_URL = "http://127.0.0.1:9"  # the discard port: nothing listens, refused at once


def _reset_caches() -> None:
    """Every cached factory of the composition root (a new one is cleared without being
    listed: a service cached across tests keeps an earlier test's clock and clients)."""
    get_settings.cache_clear()
    aws_clients.client.cache_clear()
    for factory in vars(runtime).values():
        if (
            callable(getattr(factory, "cache_clear", None))
            # runtime.py and its second half, runtime_configs.py (runtime names them all)
            and str(getattr(factory, "__module__", "")).startswith(runtime.__name__)
        ):
            factory.cache_clear()
    from nudge.console import app as console  # its settings and OIDC client, per deploy

    console.settings.cache_clear()
    console.oidc.cache_clear()


def deploy_parameters() -> dict[str, str]:
    """What `sam deploy` needs (inside mock_aws): the FCM secret is a real one in moto.
    Tests that send give push_sender its credentials inline instead. A detractor webhook
    signing secret too, as surveys with a webhook are refused without one."""
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    secret = secrets.create_secret(Name="nudge-test/fcm-service-account", SecretString="{}")
    signing = secrets.create_secret(Name="nudge-test/detractor-webhook", SecretString="s3cret")
    return {
        "JwtIssuer": "https://issuer.test",
        "JwtAudience": "app",
        "FcmCredentialsSecretArn": secret["ARN"],
        "DetractorWebhookSecretArn": signing["ARN"],
        "ConsoleClientId": "nudge-test-console",
    }


def _set_environment(spec: StackSpec, resolver: Resolver, monkeypatch: pytest.MonkeyPatch) -> None:
    for function in spec.functions.values():
        for key, value in resolver.resolve(function.environment).items():
            monkeypatch.setenv(key, str(value))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    with mock_aws():
        spec = read_stack()
        resolver = Resolver(template_parameters(spec, deploy_parameters()))
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        create_resources(spec, resolver, ddb, sqs, boto3.client("s3", region_name="us-east-1"))
        # handlers run with their own IAM roles from the template, as in AWS
        enforcement = iam.enforce_for_stack(spec, resolver)
        _set_environment(spec, resolver, monkeypatch)
        # tests reach only loopback: the console's identity provider is a closed local port
        monkeypatch.setenv("NUDGE_CONSOLE_OIDC_DISCOVERY_URL", f"{CLOSED_PORT_URL}/openid")
        _reset_caches()
        clock = ManualClock(START)
        runtime.set_clock(clock)
        functions = {name: LocalFunction(f) for name, f in spec.functions.items()}
        try:
            yield Aws(ddb, sqs, resolver, spec, clock, functions, enforcement)
        finally:
            _reset_caches()
            from nudge.clock import SystemClock

            runtime.set_clock(SystemClock())


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FcmEmulator]:
    """The FCM emulator (HTTP/2 over TLS, its own CA), one per test module."""
    server = FcmEmulator("127.0.0.1", 0, tmp_path_factory.mktemp("fcm"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def sample_event(path: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / path).read_text())  # type: ignore[no-any-return]


def sample_paths() -> list[Path]:
    return sorted(EVENTS_DIR.glob("*/*.json"))
