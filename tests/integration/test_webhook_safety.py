"""detractor_router over moto: a webhook whose name resolves to a private address when the
ticket is sent (DNS rebinding) fails only its own record, logged; the rest of the batch is
delivered, here to the local stack's loopback receiver (issue 20, item 4)."""

from __future__ import annotations

import io
import socket
from typing import Any

import pytest
from aws_lambda_powertools import Logger

from nudge_local.webhook import WebhookReceiver
from tests.integration.conftest import Aws
from tests.integration.test_surveys import (
    detractor_batch,
    prompt_for,
    publish,
    respond,
    survey_yaml,
)

pytestmark = pytest.mark.integration

REBOUND = "https://tickets.rebound.example/hook"  # valid when published, private when called


def test_a_rebound_webhook_fails_its_record_only_and_is_logged(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, real_connect = socket.getaddrinfo, socket.create_connection
    connected: list[Any] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host == "tickets.rebound.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.7", port))]
        return real(host, port, *args, **kwargs)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        connected.append(address[0])
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    with WebhookReceiver() as receiver:
        publish(aws, survey_yaml(webhook=REBOUND))
        respond(aws, prompt_for(aws, "ann"), "ann", response_id="a1", score=2)
        publish(aws, survey_yaml(webhook=receiver.url))
        respond(aws, prompt_for(aws, "bob"), "bob", response_id="b1", score=3)
        rebound, local = aws.receive_all("DetractorsQueue")
        # the functions' Logger (one per service, its handler bound to the stdout of whichever
        # test made it first): read what it writes from here on
        logs = io.StringIO()
        monkeypatch.setattr(Logger().registered_handler, "stream", logs)
        answer = aws.invoke("DetractorRouterFunction", detractor_batch([rebound, local]))
    assert answer == {"batchItemFailures": [{"itemIdentifier": rebound["MessageId"]}]}
    assert [ticket["user_id"] for ticket in receiver.delivered] == ["bob"]
    assert connected == ["127.0.0.1"]  # never a connection towards 10.0.0.7
    logged = logs.getvalue()
    assert "detractor webhook refused" in logged and "resolves to 10.0.0.7" in logged
