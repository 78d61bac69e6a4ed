"""Route throttles from template.yaml (issue 20): the unauthenticated /v1/openapi.json has a
small throttle of its own, so it can never use up the API's, and the local gateway enforces
the template's throttles with a token bucket per route (429 before any function runs)."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from nudge_local.auth import AdminCredential
from nudge_local.gateway import start_gateway
from nudge_local.stack import LocalStack
from nudge_local.template import load_template, read_stack
from nudge_local.throttle import RouteThrottles, Throttle, TokenBucket, route_throttles

OPENAPI = "GET /v1/openapi.json"


def test_the_openapi_document_has_its_own_low_throttle_in_the_template() -> None:
    default, routes = route_throttles(load_template())
    assert default == Throttle(1000.0, 2000)  # the API's DefaultRouteSettings
    own = routes[OPENAPI]
    assert own.rate <= 10 and own.burst <= 20
    assert own.rate < default.rate and own.burst < default.burst
    assert set(routes) == {OPENAPI}  # every other route keeps the API's default


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_token_bucket_allows_the_burst_then_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(Throttle(rate=5, burst=10), clock)
    assert [bucket.take() for _ in range(11)] == [True] * 10 + [False]
    clock.now += 0.2  # one token at 5 a second
    assert [bucket.take(), bucket.take()] == [True, False]
    clock.now += 60  # refills up to the burst, never beyond
    assert sum(bucket.take() for _ in range(20)) == 10


def test_routes_without_settings_share_nothing_and_a_zero_burst_refuses_all() -> None:
    clock = FakeClock()
    throttles = RouteThrottles(Throttle(1, 2), {"GET /x": Throttle(0, 0)}, clock)
    assert not throttles.admit("GET /x")
    assert [throttles.admit("GET /a") for _ in range(3)] == [True, True, False]
    assert throttles.admit("GET /b")  # a bucket of its own
    assert RouteThrottles(None, {}).admit("GET /a")  # no throttle configured: never refused


def test_route_settings_on_the_api_and_unresolved_refs_fall_back_to_the_default() -> None:
    template = {
        "Resources": {
            "Api": {
                "Type": "AWS::Serverless::HttpApi",
                "Properties": {
                    "DefaultRouteSettings": {
                        "ThrottlingRateLimit": 50,
                        "ThrottlingBurstLimit": 100,
                    },
                    "RouteSettings": {
                        "GET /a": {"ThrottlingRateLimit": 1},
                        "GET /b": {"ThrottlingRateLimit": {"Ref": "P"}, "ThrottlingBurstLimit": 3},
                    },
                },
            }
        }
    }
    default, routes = route_throttles(template)
    assert routes == {"GET /a": Throttle(1, 100), "GET /b": Throttle(50, 3)}
    assert default == Throttle(50, 100)


class _Openapi:
    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        return {"statusCode": 200, "headers": {"content-type": "application/json"}, "body": "{}"}


class _Stack:
    """What the gateway reads of a LocalStack; events_api answers with a stub."""

    spec = read_stack()
    match_route = LocalStack.match_route
    functions = {"EventsApiFunction": _Openapi()}
    admin_credential = AdminCredential("AKIATESTTHROTTLE", "s" * 40, "us-east-1")

    def record_latency(self, function: str, seconds: float) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[tuple[str, Any]]:
    server = start_gateway(_Stack(), "127.0.0.1", 0)  # type: ignore[arg-type,unused-ignore]
    server.throttles = RouteThrottles.from_template(_Stack.spec.template, clock=FakeClock())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()


def status(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - loopback
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_local_gateway_answers_429_once_the_documents_burst_is_spent(
    gateway: tuple[str, Any],
) -> None:
    api, server = gateway
    burst = server.throttles.routes[OPENAPI].burst
    answers = [status(f"{api}/v1/openapi.json") for _ in range(burst + 1)]
    assert [code for code, _ in answers] == [200] * burst + [429]
    assert answers[-1][1] == {"message": "Too Many Requests"}
    assert server.throttles.admit("POST /v1/events")  # the app's routes: buckets of their own
