"""Admin roles (issue 20, item 6): marketing and privacy operations are granted apart by the
template's managed policies, enforced by the local gateway as API Gateway's IAM authorizer
does, and every admin call leaves one audit line: who, which route, on what, outcome."""

from __future__ import annotations

import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from nudge.api.audit import AUDIT_SERVICE
from nudge_local import iam
from nudge_local.admin_roles import ROLE_POLICIES, managed_policies, role_credential, route_arn
from nudge_local.auth import AdminCredential, sign_request
from nudge_local.gateway import start_gateway
from nudge_local.iam_requests import Request
from nudge_local.resources import REGION
from nudge_local.stack import LocalStack
from nudge_local.template import read_stack
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration

SPEC = read_stack()
ADMIN_ROUTES = sorted(
    f"{r.method} {r.path}" for r in SPEC.routes if r.path.startswith("/admin/v1/")
)
PRIVACY_ROUTES = {
    "GET /admin/v1/users/{user_id}",
    "DELETE /admin/v1/users/{user_id}",
    "GET /admin/v1/users/{user_id}/decisions",  # `nudge user why`: one user's data too
}
DOCS_ROUTE = "GET /admin/v1/openapi.json"  # the API's own description: both may read it
ONE_USER_SEND = "POST /admin/v1/users/{user_id}/messages"  # granted alone, to a sender
BACKEND_EVENTS = "POST /admin/v1/apps/{app_id}/events"  # Pinpoint's PutEvents: to a backend
BODY_MARKER = "do-not-log-this-body"


def sample_arn(route: str, api_id: str = "local") -> str:
    method, path = route.split(" ", 1)
    return route_arn(method, re.sub(r"\{\w+\}", "id-1", path), api_id)


def allowed(policy: iam.Role, routes: list[str], api_id: str = "local") -> set[str]:
    return {
        r
        for r in routes
        if iam.decide(policy, Request("execute-api:Invoke", sample_arn(r, api_id))).allowed
    }


def test_every_admin_route_is_authorized_by_iam() -> None:
    assert ADMIN_ROUTES and {r.auth for r in SPEC.routes if r.path.startswith("/admin/")} == {"iam"}


def test_the_managed_policies_grant_exactly_their_route_sets() -> None:
    policies = managed_policies(SPEC)
    marketing = policies[ROLE_POLICIES["marketing"]]
    privacy = policies[ROLE_POLICIES["privacy"]]
    assert allowed(privacy, ADMIN_ROUTES) == PRIVACY_ROUTES | {DOCS_ROUTE}
    users_routes = {r for r in ADMIN_ROUTES if r.split(" ", 1)[1].startswith("/admin/v1/users/")}
    assert users_routes == PRIVACY_ROUTES | {ONE_USER_SEND}
    assert allowed(marketing, ADMIN_ROUTES) == set(ADMIN_ROUTES) - users_routes - {BACKEND_EVENTS}
    # the app's routes, another API, another account: nothing
    mobile = sorted(f"{r.method} {r.path}" for r in SPEC.routes if r.auth != "iam")
    for policy in (marketing, privacy):
        assert not allowed(policy, mobile)
        assert not allowed(policy, ADMIN_ROUTES, api_id="another-api")
        other_account = sample_arn(DOCS_ROUTE).replace(":123456789012:", ":210987654321:")
        assert not iam.decide(policy, Request("execute-api:Invoke", other_account)).allowed


def test_the_policies_hold_allows_only_so_one_principal_may_hold_both() -> None:
    for policy in managed_policies(SPEC).values():
        assert {s.effect for s in policy.statements} == {"Allow"}
        assert {a for s in policy.statements for a in s.actions} == {"execute-api:Invoke"}


# ---------- through the local gateway ----------


class GatewayStack:
    """What the gateway reads of a LocalStack, over the moto-backed functions."""

    match_route = LocalStack.match_route

    def __init__(self, aws: Aws) -> None:
        self.spec = aws.spec
        self.functions = aws.functions
        self.admin_credential = AdminCredential("AKIATESTADMIN", "s" * 40, REGION)

    def record_latency(self, function: str, seconds: float) -> None:
        pass


@pytest.fixture
def gateway(aws: Aws) -> Iterator[tuple[str, GatewayStack]]:
    stack = GatewayStack(aws)
    server = start_gateway(stack, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", stack
    finally:
        server.shutdown()
        server.server_close()


def call(
    api: str, credential: AdminCredential, method: str, path: str, body: Any = None
) -> requests.Response:
    data = json.dumps(body).encode() if body is not None else b""
    headers = {"content-type": "application/json"} if data else {}
    signed = sign_request(credential, method, f"{api}{path}", data, headers)
    return requests.request(method, f"{api}{path}", data=data, headers=signed, timeout=30)


def test_a_privacy_principal_cannot_run_marketing_routes(gateway: Any) -> None:
    api, stack = gateway
    privacy = role_credential(stack.admin_credential, "privacy")
    assert call(api, privacy, "GET", "/admin/v1/campaigns").status_code == 403
    assert call(api, privacy, "PUT", "/admin/v1/segments/vip", {"yaml": "x"}).status_code == 403
    assert call(api, privacy, "POST", "/admin/v1/users/u-1/messages", {}).status_code == 403
    assert call(api, privacy, "GET", "/admin/v1/users/u-1").status_code < 400
    assert call(api, privacy, "DELETE", "/admin/v1/users/u-1").status_code < 400


def test_a_marketing_principal_gets_403_on_users_routes(gateway: Any) -> None:
    api, stack = gateway
    marketing = role_credential(stack.admin_credential, "marketing")
    assert call(api, marketing, "GET", "/admin/v1/users/u-1").status_code == 403
    assert call(api, marketing, "DELETE", "/admin/v1/users/u-1").status_code == 403
    assert call(api, marketing, "POST", "/admin/v1/users/u-1/messages", {}).status_code == 403
    assert call(api, marketing, "GET", "/admin/v1/campaigns").status_code == 200
    # the stack's administrator keeps every route
    assert call(api, stack.admin_credential, "GET", "/admin/v1/users/u-1").status_code < 400
    assert call(api, stack.admin_credential, "GET", "/admin/v1/campaigns").status_code == 200


def test_a_role_key_with_a_wrong_secret_is_refused(gateway: Any) -> None:
    api, stack = gateway
    marketing = role_credential(stack.admin_credential, "marketing")
    forged = AdminCredential(marketing.access_key, "not-the-secret", REGION)
    assert call(api, forged, "GET", "/admin/v1/campaigns").status_code == 403


@pytest.fixture
def log_lines() -> Iterator[io.StringIO]:
    """What the admin function writes to its log (the app's and the audit logger's)."""
    stream = io.StringIO()
    handlers = [
        h
        for name in ("nudge", AUDIT_SERVICE)
        for h in logging.getLogger(name).handlers
        if isinstance(h, logging.StreamHandler)
    ]
    previous = [h.setStream(stream) for h in handlers]
    try:
        yield stream
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            handler.setStream(old)


def audit_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]
    return [line for line in lines if "audit" in line]


def test_each_admin_call_leaves_one_audit_line_without_its_body(
    gateway: Any, aws: Aws, log_lines: io.StringIO
) -> None:
    api, stack = gateway
    aws.functions["AdminApiFunction"]._load()  # its loggers exist before the stream is swapped
    marketing = role_credential(stack.admin_credential, "marketing")
    body = {"yaml": f"segments:\n  {BODY_MARKER}: {{ lifecycle: [active] }}\n"}
    put = call(api, marketing, "PUT", f"/admin/v1/segments/vip?note={BODY_MARKER}", body)
    assert put.status_code < 500
    (line,) = audit_lines(log_lines)
    assert line["service"] == AUDIT_SERVICE
    assert line["audit"] == {
        "actor": {
            "user_arn": "arn:aws:iam::123456789012:user/nudge-marketing",
            "caller_id": marketing.access_key,
            "account_id": "123456789012",
            "principal_org_id": None,
        },
        "route": "PUT /admin/v1/segments/{name}",
        "request_id": line["audit"]["request_id"],
        "target": {"name": "vip"},
        "status": put.status_code,
        "outcome": "ok" if put.status_code < 400 else "rejected",
    }
    assert line["audit"]["request_id"]
    assert BODY_MARKER not in log_lines.getvalue()  # neither body nor query, in any line


def test_an_erasure_is_attributed_to_its_caller_and_user(
    gateway: Any, aws: Aws, log_lines: io.StringIO
) -> None:
    api, stack = gateway
    aws.functions["AdminApiFunction"]._load()
    privacy = role_credential(stack.admin_credential, "privacy")
    erased = call(api, privacy, "DELETE", "/admin/v1/users/u-42")
    refused = call(
        api, role_credential(stack.admin_credential, "marketing"), "DELETE", "/admin/v1/users/u-43"
    )
    assert erased.status_code < 400 and refused.status_code == 403
    (line,) = audit_lines(log_lines)  # the refused call never reached the function
    audit = line["audit"]
    assert audit["actor"]["user_arn"] == "arn:aws:iam::123456789012:user/nudge-privacy"
    assert (audit["route"], audit["target"], audit["outcome"]) == (
        "DELETE /admin/v1/users/{user_id}",
        {"user_id": "u-42"},
        "ok",
    )
