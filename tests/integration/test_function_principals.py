"""Function principals at the local gateway (issue 25): a function whose template role grants
execute-api:Invoke (the console) signs admin calls with its role's local credential, and the
gateway allows exactly what that role's statements allow, as API Gateway's IAM authorizer
would for the role's session in AWS."""

from __future__ import annotations

import dataclasses

import pytest

from nudge_local import iam
from nudge_local.admin_roles import AdminAccess, function_credential, invoking_functions
from nudge_local.auth import AdminCredential, AuthError, sign_request
from nudge_local.resources import REGION
from nudge_local.stack_environments import add_api_callers
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration

ADMIN = AdminCredential("AKIANUDGELOCALADMIN", "0" * 40, REGION)
HOST = "127.0.0.1:8080"


def call(
    access: AdminAccess, credential: AdminCredential, method: str, path: str, body: bytes = b""
) -> dict:
    url = f"http://{HOST}{path}"
    headers = sign_request(credential, method, url, body, {"Host": HOST})
    return access.authorize(method, path, url, headers, body)


def test_the_console_role_is_the_only_api_caller(aws: Aws) -> None:
    assert set(invoking_functions(aws.iam.roles)) == {"ConsoleFunction"}


def test_the_console_credential_reaches_admin_routes_and_nothing_else(aws: Aws) -> None:
    roles = aws.iam.roles
    access = AdminAccess.for_stack(aws.spec, ADMIN, roles)
    console = function_credential(ADMIN, "ConsoleFunction")

    answer = call(access, console, "GET", "/admin/v1/campaigns")
    role_name = roles["ConsoleFunction"].name
    assert answer["iam"]["userArn"] == (
        f"arn:aws:sts::123456789012:assumed-role/nudge-local-{role_name}/ConsoleFunction"
    )
    assert answer["iam"]["accessKey"] == console.access_key
    assert call(access, console, "POST", "/admin/v1/campaigns/winback/pause", b"{}")

    with pytest.raises(AuthError, match=r"not authorized to perform: execute-api:Invoke"):
        call(access, console, "GET", "/v1/me")
    with pytest.raises(AuthError, match="ConsoleFunction is not authorized"):
        call(access, console, "POST", "/v1/events", b"[]")


def test_a_tampered_or_foreign_signature_is_refused(aws: Aws) -> None:
    access = AdminAccess.for_stack(aws.spec, ADMIN, aws.iam.roles)
    console = function_credential(ADMIN, "ConsoleFunction")
    url = f"http://{HOST}/admin/v1/campaigns"
    headers = sign_request(console, "GET", url, b"", {"Host": HOST})
    signature = headers["Authorization"].rsplit("Signature=", 1)[1]
    forged = "0" * len(signature) if signature != "0" * len(signature) else "1" * len(signature)
    tampered = {**headers, "Authorization": headers["Authorization"].replace(signature, forged)}
    with pytest.raises(AuthError, match="signature does not match"):
        access.authorize("GET", "/admin/v1/campaigns", url, tampered, b"")
    # the signature covers the path: the same headers for another route don't pass
    other = f"http://{HOST}/admin/v1/segments"
    with pytest.raises(AuthError, match="signature does not match"):
        access.authorize("GET", "/admin/v1/segments", other, headers, b"")
    # the right key id with another stack's secret
    stranger = dataclasses.replace(console, secret_key="f" * 40)
    with pytest.raises(AuthError, match="signature does not match"):
        call(access, stranger, "GET", "/admin/v1/campaigns")


def test_a_function_without_the_grant_has_no_principal(aws: Aws) -> None:
    roles = aws.iam.roles
    # the console's role without its execute-api statement, as if the template lost it
    console = roles["ConsoleFunction"]
    bare = iam.Role(
        console.function,
        console.name,
        [s for s in console.statements if not any("execute-api" in a for a in s.actions)],
    )
    access = AdminAccess.for_stack(aws.spec, ADMIN, {**roles, "ConsoleFunction": bare})
    for function in ("ConsoleFunction", "AdminApiFunction", "EventsApiFunction"):
        with pytest.raises(AuthError, match="unknown access key"):
            call(access, function_credential(ADMIN, function), "GET", "/admin/v1/campaigns")
    # and without function roles at all, the stack's three callers only
    assert len(AdminAccess.for_stack(aws.spec, ADMIN).principals) == 3


def test_only_api_callers_get_a_credential_and_the_console_its_sign_in(aws: Aws) -> None:
    environments = {
        name: {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        | {k: str(v) for k, v in aws.resolver.resolve(f.environment).items()}
        for name, f in aws.spec.functions.items()
    }
    gateway = "http://127.0.0.1:4321"
    add_api_callers(environments, sorted(invoking_functions(aws.iam.roles)), ADMIN, gateway)
    console = environments["ConsoleFunction"]
    credential = function_credential(ADMIN, "ConsoleFunction")
    assert (console["AWS_ACCESS_KEY_ID"], console["AWS_SECRET_ACCESS_KEY"]) == (
        credential.access_key,
        credential.secret_key,
    )
    assert console["NUDGE_CONSOLE_API_URL"] == gateway
    assert console["NUDGE_CONSOLE_OIDC_DISCOVERY_URL"] == (
        f"{gateway}/_local/oidc/.well-known/openid-configuration"
    )
    for name, env in environments.items():
        if name != "ConsoleFunction":
            assert env["AWS_ACCESS_KEY_ID"] == "testing", name
            assert "NUDGE_CONSOLE_API_URL" not in env, name
