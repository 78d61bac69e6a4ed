"""Detractor webhooks go to public https hosts only in AWS, checked again at call time
(issue 20, item 4): no loopback (the Lambda runtime API), link-local (instance metadata),
private or otherwise non-global address, whatever the name resolves to when the ticket is sent;
and never unsigned in AWS."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from nudge.adapters.webhooks import CheckedWebhookPoster
from nudge.clock import ManualClock
from nudge.configfiles import ConfigError, load_config
from nudge.models.nps_store import DetractorJob, StoredResponse
from nudge.models.survey import SurveyConfig
from nudge.models.survey_responses import ResponseState
from nudge.models.webhook_targets import RefusedTarget, local_targets_allowed
from nudge.services.nps.detractors import DetractorRouter, WebhookRefused
from nudge.settings import running_in_lambda
from nudge_local.webhook import WebhookReceiver

# What the Lambda runtime sets in every execution environment (the local stack does not).
LAMBDA = {"AWS_EXECUTION_ENV": "AWS_Lambda_python3.13", "AWS_LAMBDA_FUNCTION_NAME": "router"}

SURVEY = """\
id: nps
trigger: { event: trip_completed }
questions:
  score: How likely are you to recommend us?
on_detractor:
  webhook: WEBHOOK
"""


@pytest.fixture
def in_lambda(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in LAMBDA.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def in_local_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in LAMBDA:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NUDGE_LOCAL_STACK", "1")


def webhook_problems(url: str) -> list[tuple[int | None, str, str]]:
    try:
        load_config(SURVEY.replace("WEBHOOK", url), SurveyConfig, "surveys/nps.yaml")
    except ConfigError as error:
        return [(p.line, p.field, p.message) for p in error.problems]
    return []


# --- config validation -------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9001/2018-06-01/runtime/invocation/next",  # the Lambda runtime API
        "http://localhost/hook",
        "https://localhost/hook",
        "https://tickets.localhost/hook",
        "https://127.0.0.1/hook",
        "https://127.1/hook",  # 127.0.0.1 as the resolver reads it
        "https://2130706433/hook",  # ditto
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://169.254.169.254/latest/meta-data/",  # instance metadata (link-local)
        "https://[fe80::1]/hook",
        "https://10.0.0.5/hook",
        "https://192.168.1.10/hook",
        "https://172.16.0.1/hook",
        "https://100.64.0.1/hook",  # carrier-grade NAT: not global
        "https://0.0.0.0/hook",
    ],
)
def test_in_aws_a_non_public_webhook_is_refused_naming_the_field(in_lambda: None, url: str) -> None:
    (problem,) = webhook_problems(url)
    assert problem[:2] == (6, "on_detractor.webhook")


def test_in_aws_plain_http_is_refused_even_to_a_public_host(in_lambda: None) -> None:
    (problem,) = webhook_problems("http://127.0.0.1:8080/tickets")
    assert problem[1] == "on_detractor.webhook" and "https" in problem[2]


@pytest.mark.parametrize("url", ["https://hooks.example.com/nps", "https://8.8.8.8/nps"])
def test_in_aws_a_public_https_webhook_is_valid(in_lambda: None, url: str) -> None:
    assert webhook_problems(url) == []


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/tickets", "http://localhost/t"])
def test_in_the_local_stack_its_loopback_receiver_is_valid(in_local_stack: None, url: str) -> None:
    assert webhook_problems(url) == []


@pytest.mark.parametrize(
    "url", ["https://10.0.0.5/hook", "https://169.254.169.254/", "http://192.168.1.10/hook"]
)
def test_even_locally_private_and_link_local_webhooks_are_refused(
    in_local_stack: None, url: str
) -> None:
    (problem,) = webhook_problems(url)
    assert problem[1] == "on_detractor.webhook"


def test_where_loopback_is_allowed_agrees_with_the_settings() -> None:
    for environ in ({}, {"NUDGE_LOCAL_STACK": "1"}, LAMBDA, {**LAMBDA, "NUDGE_LOCAL_STACK": "1"}):
        assert local_targets_allowed(environ) is not running_in_lambda(environ)
    assert not local_targets_allowed({"AWS_LAMBDA_FUNCTION_NAME": "f"})  # fails closed


# --- at call time ---------------------------------------------------------------------------


def resolving(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[Any]:
    """getaddrinfo answers `answers[host]` (DNS as an attacker controls it); every connection
    attempt is recorded and refused, so a test sees where a ticket would have gone."""
    real = socket.getaddrinfo
    connects: list[Any] = []

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in answers:
            return real(host, port, *args, **kwargs)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in answers[host]
        ]

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        connects.append(address)
        raise ConnectionRefusedError("test: no connections")

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return connects


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["169.254.169.254"], ["10.1.2.3"], ["93.184.216.34", "10.1.2.3"], ["::1"]],
)
def test_the_poster_refuses_a_name_resolving_to_a_non_public_address(
    monkeypatch: pytest.MonkeyPatch, addresses: list[str]
) -> None:
    connects = resolving(monkeypatch, {"tickets.example.com": addresses})
    poster = CheckedWebhookPoster(allow_local=False)
    with pytest.raises(RefusedTarget, match=r"tickets\.example\.com resolves to"):
        poster.post("https://tickets.example.com/hook", b"{}", {})
    assert connects == []  # not even a TCP connection


def test_the_poster_connects_to_the_address_it_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    connects = resolving(monkeypatch, {"tickets.example.com": ["93.184.216.34"]})
    with pytest.raises(ConnectionRefusedError):
        CheckedWebhookPoster(allow_local=False).post("https://tickets.example.com/h", b"{}", {})
    assert connects == [("93.184.216.34", 443)]  # the checked address, not a new lookup


def test_the_poster_checks_the_url_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    connects = resolving(monkeypatch, {})
    poster = CheckedWebhookPoster(allow_local=False)
    for url in ("http://127.0.0.1:9001/next", "https://169.254.169.254/", "http://a.example/"):
        with pytest.raises(RefusedTarget):
            poster.post(url, b"{}", {})
    assert connects == []


def test_locally_the_poster_reaches_the_loopback_receiver() -> None:
    with WebhookReceiver() as receiver:
        poster = CheckedWebhookPoster(allow_local=True)
        assert poster.post(receiver.url, b'{"a": 1}', {"Content-Type": "application/json"}) == 200
        with pytest.raises(RefusedTarget):  # the same receiver, as seen from a Lambda
            CheckedWebhookPoster(allow_local=False).post(receiver.url, b"{}", {})
    assert receiver.delivered == [{"a": 1}]


def test_a_redirect_is_an_answer_never_followed() -> None:
    with WebhookReceiver() as elsewhere, redirecting_to(elsewhere.url) as url:
        assert CheckedWebhookPoster(allow_local=True).post(url, b"{}", {}) == 307
    assert elsewhere.received == []


@contextmanager
def redirecting_to(location: str) -> Iterator[str]:
    class Redirect(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["content-length"]))
            self.send_response(307)
            self.send_header("location", location)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()


class OneAnswer:
    """The SurveyStore port, holding one detractor's answer."""

    def get_response(self, user_id: str, survey_id: str, prompt_id: str) -> StoredResponse:
        state = ResponseState(prompt_id=prompt_id, user_id=user_id, survey_id=survey_id, score=3)
        return StoredResponse(state=state, version=1)


def job(webhook: str) -> str:
    return DetractorJob(
        user_id="ann", survey_id="nps", prompt_id="p1", webhook=webhook, queued_at=0
    ).model_dump_json()


def test_the_router_refuses_a_rebound_name_and_sends_nothing(
    monkeypatch: pytest.MonkeyPatch, clock: ManualClock
) -> None:
    connects = resolving(monkeypatch, {"tickets.example.com": ["169.254.169.254"]})
    router = DetractorRouter(
        OneAnswer(), CheckedWebhookPoster(allow_local=False), clock, lambda: "s3cret"
    )
    with pytest.raises(WebhookRefused, match=r"resolves to 169\.254\.169\.254"):
        router.deliver(job("https://tickets.example.com/hook"))
    assert connects == []


def test_in_aws_the_router_never_sends_an_unsigned_ticket(
    monkeypatch: pytest.MonkeyPatch, clock: ManualClock
) -> None:
    connects = resolving(monkeypatch, {"tickets.example.com": ["93.184.216.34"]})
    poster = CheckedWebhookPoster(allow_local=False)
    for secret in (None, lambda: ""):
        router = DetractorRouter(OneAnswer(), poster, clock, secret)
        with pytest.raises(WebhookRefused, match="DetractorWebhookSecretArn"):
            router.deliver(job("https://tickets.example.com/hook"))
    assert connects == []


def test_in_the_local_stack_unsigned_tickets_reach_its_receiver(clock: ManualClock) -> None:
    with WebhookReceiver() as receiver:
        poster = CheckedWebhookPoster(allow_local=True)
        router = DetractorRouter(OneAnswer(), poster, clock, allow_unsigned=True)
        assert router.deliver(job(receiver.url)) == "delivered"
    (ticket,) = receiver.delivered
    assert (ticket["prompt_id"], ticket["score"]) == ("p1", 3)
