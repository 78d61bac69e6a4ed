"""FirebaseSender (the real firebase-admin, send_each_async) against the local FCM emulator:
HTTP/2 multiplexing over few connections, per-request latency, FCM's errors, and a CA that is
trusted only where the local stack says so. Everything on loopback."""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nudge.adapters import fcm
from nudge.adapters.fcm import FirebaseSender
from nudge_local.fcm_emulator import PROJECT_ID, FcmEmulator, service_account
from nudge_local.stack_environments import fcm_environment, function_environments
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration


@pytest.fixture
def sender(emulator: FcmEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[FirebaseSender]:
    # as the local stack sets it for push_sender's process only (see the test at the end)
    monkeypatch.setenv("SSL_CERT_FILE", str(emulator.ca_path))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_path))
    emulator.latency_s = 0.0
    sender = FirebaseSender(
        lambda: service_account(f"{emulator.url}/token"), PROJECT_ID, emulator.url
    )
    try:
        yield sender
    finally:
        sender.close()
        emulator.latency_s = 0.0


def message(token: str) -> dict[str, Any]:
    return {"token": token, "notification": {"title": "Hi", "body": "there"}, "data": {"k": "v"}}


def send_path(emulator: FcmEmulator) -> str:
    return f"{emulator.url}/v1/projects/{PROJECT_ID}/messages:send"


def test_the_emulator_negotiates_http2_and_still_speaks_http11(emulator: FcmEmulator) -> None:
    trust = ssl.create_default_context(cafile=str(emulator.ca_path))
    body = {"message": message("h2-probe")}
    auth = {"authorization": "Bearer local"}
    with httpx.Client(http2=True, verify=trust) as client:
        response = client.post(send_path(emulator), json=body, headers=auth)
    assert (response.http_version, response.status_code) == ("HTTP/2", 200)
    assert response.json()["name"].startswith(f"projects/{PROJECT_ID}/messages/")
    with httpx.Client(http2=False, verify=trust) as client:
        response = client.post(send_path(emulator), json=body, headers=auth)
    assert (response.http_version, response.status_code) == ("HTTP/1.1", 200)
    with httpx.Client(http2=True, verify=trust) as client:
        assert client.post(send_path(emulator), json=body).status_code == 401  # no token
        assert client.post(f"{emulator.url}/v1/nope", json=body, headers=auth).status_code == 404
        bad = client.post(send_path(emulator), content=b"{", headers=auth)
        assert bad.status_code == 400 and bad.json()["error"]["status"] == "INVALID_ARGUMENT"


def test_the_ca_is_not_trusted_by_default(
    emulator: FcmEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with httpx.Client(http2=True) as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE"):
        client.post(send_path(emulator), json={"message": message("x")})


def test_many_sends_are_multiplexed_over_few_http2_connections(
    emulator: FcmEmulator, sender: FirebaseSender
) -> None:
    before = emulator.stats()
    emulator.latency_s = 0.02
    results = sender.send([message(f"many-{i}") for i in range(1200)])
    after = emulator.stats()
    assert all(r.ok for r in results) and len(results) == 1200
    assert len({r.message_id for r in results}) == 1200
    assert after["requests"].get("2", 0) - before["requests"].get("2", 0) == 1200
    assert after["requests"].get("1.1", 0) == before["requests"].get("1.1", 0)
    assert after["connections"] - before["connections"] == fcm.CONNECTIONS <= 20  # all used
    # a later send (the next Lambda invocation) reuses the same connections
    assert all(r.ok for r in sender.send([message(f"again-{i}") for i in range(300)]))
    assert emulator.stats()["connections"] == after["connections"]


def test_latency_applies_to_each_request_without_holding_up_the_others(
    emulator: FcmEmulator, sender: FirebaseSender
) -> None:
    sender.send([message("warm-up")])
    emulator.latency_s = 0.3
    started = time.perf_counter()
    assert sender.send([message("slow-one")])[0].ok
    one = time.perf_counter() - started
    started = time.perf_counter()
    results = sender.send([message(f"slow-{i}") for i in range(400)])
    many = time.perf_counter() - started
    assert all(r.ok for r in results)
    assert one >= 0.3 and many >= 0.3
    assert many < 400 * 0.3 / 10  # one after another would take 120 s


def test_fcm_errors_reach_send_results_without_retries_or_sleeps(
    emulator: FcmEmulator, sender: FirebaseSender
) -> None:
    emulator.inject("quota", ["QUOTA_EXCEEDED:37"])
    emulator.inject("gone", ["UNREGISTERED"])
    emulator.inject("down", ["UNAVAILABLE:5"])  # the SDK's default would retry it and succeed
    emulator.inject("oops", ["INTERNAL"])  # likewise
    emulator.inject("bad", ["INVALID_ARGUMENT"])
    tokens = ["quota", "gone", "down", "oops", "bad", "fine"]
    started = time.perf_counter()
    results = dict(zip(tokens, sender.send([message(t) for t in tokens]), strict=True))
    assert time.perf_counter() - started < 5  # no Retry-After or backoff sleeping
    assert (results["quota"].error_code, results["quota"].retry_after_s) == ("QUOTA_EXCEEDED", 37)
    assert (results["gone"].error_code, results["gone"].retry_after_s) == ("UNREGISTERED", None)
    assert (results["down"].error_code, results["down"].retry_after_s) == ("UNAVAILABLE", 5)
    assert results["oops"].error_code == "INTERNAL"
    assert results["bad"].error_code == "INVALID_ARGUMENT"
    assert results["fine"].ok and results["fine"].message_id
    assert not any(r.ok for t, r in results.items() if t != "fine")
    assert emulator.snapshot()["faults"]["down"] == []  # asked once, not retried
    # the next attempt (SQS's redelivery) goes through
    assert all(r.ok for r in sender.send([message("quota"), message("down")]))


def test_only_the_functions_that_talk_to_fcm_trust_the_emulators_ca(
    aws: Aws, emulator: FcmEmulator
) -> None:
    fcm_env = fcm_environment(emulator)
    environments = function_environments(aws.spec, aws.resolver, {"PATH": "/bin"}, fcm_env)
    trusting = {name for name, env in environments.items() if "SSL_CERT_FILE" in env}
    assert trusting == {"PushSenderFunction"}
    env = environments["PushSenderFunction"]
    assert env["SSL_CERT_FILE"] == env["REQUESTS_CA_BUNDLE"] == str(emulator.ca_path)
    assert env["NUDGE_FCM_ENDPOINT"] == emulator.url
    assert not any("REQUESTS_CA_BUNDLE" in e for n, e in environments.items() if n not in trusting)
    assert os.environ.get("SSL_CERT_FILE") != str(emulator.ca_path)  # nothing set globally


def test_the_bearer_token_is_huffman_coded_once_per_connection_not_per_request(
    emulator: FcmEmulator, sender: FirebaseSender, monkeypatch: pytest.MonkeyPatch
) -> None:
    # h2 never indexes an authorization header, so HPACK sends the ~1 KB token as a literal in
    # every request; Huffman-coding it in pure Python was ~0.3 ms of CPU per message.
    import hpack.huffman

    encoded: list[bytes] = []
    plain_encode = hpack.huffman.HuffmanEncoder.encode

    def counting(coder: Any, value: bytes | None) -> bytes:
        if value and value.startswith(b"Bearer "):
            encoded.append(value)
        return plain_encode(coder, value)

    monkeypatch.setattr(hpack.huffman.HuffmanEncoder, "encode", counting)
    assert all(r.ok for r in sender.send([message(f"first-{i}") for i in range(400)]))
    first_send = len(encoded)
    assert all(r.ok for r in sender.send([message(f"later-{i}") for i in range(400)]))
    later_sends = len(encoded) - first_send
    assert later_sends <= fcm.CONNECTIONS  # not 400: the same token, coded once per connection
    assert len(set(encoded)) == 1
