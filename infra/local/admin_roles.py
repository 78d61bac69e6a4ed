"""Who may call which admin route, locally as in AWS: API Gateway's IAM authorizer.

A SigV4-signed admin call is authenticated (auth.verify_sigv4), then authorized: its route
ARN (`arn:aws:execute-api:REGION:ACCOUNT:API_ID/STAGE/METHOD/PATH`) is evaluated by the local
IAM evaluator (iam.decide) against the caller's identity policies. The stack knows three
callers (docs/admin-roles.md):
- its administrator (the state file's `admin` credential): every route, as an account
  administrator would be;
- `marketing` and `privacy`: each holds one of the template's managed policies,
  NudgeMarketingOperations and NudgePrivacyOperations, so a route left out of them (or a
  grant too wide) shows up locally. Their secrets derive from the administrator's
  (role_credential), so whoever can read the state file can sign as any of them;
- each function whose template role grants execute-api:Invoke (the console): signed with
  `function_credential`, which the stack puts in that function's environment, and allowed
  only what its role's own statements allow, as the role's session would be in AWS.
The handler gets the caller in requestContext.authorizer.iam, as API Gateway passes it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from nudge_local import iam
from nudge_local.auth import AdminCredential, AuthError, signing_access_key, verify_sigv4
from nudge_local.iam_requests import Request
from nudge_local.resources import ACCOUNT, REGION, Resolver
from nudge_local.template import StackSpec

LOCAL_API_ID = "local"  # the apiId of the local gateway's events
STAGE = "$default"
INVOKE = "execute-api:Invoke"
# role -> the template's managed policy it holds
ROLE_POLICIES = {
    "marketing": "NudgeMarketingOperations",
    "privacy": "NudgePrivacyOperations",
}
ADMINISTRATOR = "nudge-local-admin"


def route_arn(method: str, path: str, api_id: str = LOCAL_API_ID, stage: str = STAGE) -> str:
    """The resource API Gateway authorizes a call to: the request's own path, not its route."""
    return f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api_id}/{stage}/{method.upper()}{path}"


def role_credential(admin: AdminCredential, role: str) -> AdminCredential:
    """The local credential of `role`, derived from the stack's admin credential."""
    secret = hmac.new(admin.secret_key.encode(), role.encode(), hashlib.sha256).hexdigest()
    return AdminCredential(f"AKIANUDGELOCAL{role.upper()}", secret[:40], admin.region)


def managed_policies(spec: StackSpec, api_id: str = LOCAL_API_ID) -> dict[str, iam.Role]:
    """The template's AWS::IAM::ManagedPolicy documents, by logical id, resolved for `api_id`
    (conditions and unknown operators fail closed, as everywhere in the local IAM)."""
    resolver = Resolver({})
    resolver.physical["HttpApi"] = {"Ref": api_id}
    policies = {}
    for name, properties in spec.resources("AWS::IAM::ManagedPolicy").items():
        document = resolver.resolve(properties["PolicyDocument"])
        statements = document["Statement"]
        role = iam.Role(function=name, name=name)
        for raw in statements if isinstance(statements, list) else [statements]:
            role.statements.append(iam._statement(raw))  # the evaluator's own parsing
        policies[name] = role
    return policies


def _administrator() -> iam.Role:
    role = iam.Role(function=ADMINISTRATOR, name=ADMINISTRATOR)
    role.statements.append(iam.Statement("Allow", (INVOKE,), ("arn:aws:execute-api:*",)))
    return role


def function_credential(admin: AdminCredential, function: str) -> AdminCredential:
    """The local credential of `function`'s role session (its environment's AWS keys)."""
    return role_credential(admin, f"function-{function}")


def may_invoke(role: iam.Role) -> bool:
    """Whether some Allow statement of `role` names execute-api:Invoke (on any resource)."""
    return any(
        statement.effect == "Allow"
        and any(iam._like(action, INVOKE, case_sensitive=False) for action in statement.actions)
        for statement in role.statements
    )


def invoking_functions(roles: dict[str, iam.Role]) -> dict[str, iam.Role]:
    """The functions that get a principal at the gateway: their roles may invoke the API."""
    return {name: role for name, role in roles.items() if may_invoke(role)}


@dataclass(frozen=True)
class AdminPrincipal:
    credential: AdminCredential
    user_arn: str
    policy: iam.Role


class AdminAccess:
    """The admin callers of one local stack, by access key."""

    def __init__(self, principals: list[AdminPrincipal]) -> None:
        self.principals = {p.credential.access_key: p for p in principals}

    @classmethod
    def for_stack(
        cls,
        spec: StackSpec,
        admin: AdminCredential,
        function_roles: dict[str, iam.Role] | None = None,
    ) -> AdminAccess:
        """`function_roles`: every function's role (iam.stack_roles); those that may invoke
        execute-api become principals, evaluated against their own statements."""
        policies = managed_policies(spec)
        principals = [AdminPrincipal(admin, _user_arn(ADMINISTRATOR), _administrator())]
        for role, policy in ROLE_POLICIES.items():
            principals.append(
                AdminPrincipal(role_credential(admin, role), _user_arn(role), policies[policy])
            )
        for function, function_role in invoking_functions(function_roles or {}).items():
            # the role session's ARN, as iam.check_call names it
            session = f"assumed-role/nudge-local-{function_role.name}/{function}"
            principals.append(
                AdminPrincipal(
                    function_credential(admin, function),
                    f"arn:aws:sts::{ACCOUNT}:{session}",
                    function_role,
                )
            )
        return cls(principals)

    def authorize(
        self, method: str, path: str, url: str, headers: dict[str, str], body: bytes
    ) -> dict[str, Any]:
        """The `authorizer` of the call's requestContext; AuthError (403) when the signature
        is wrong or the caller's policies don't allow execute-api:Invoke on the route."""
        principal = self.principals.get(signing_access_key(headers))
        if principal is None:
            raise AuthError("unknown access key")
        access_key = verify_sigv4(principal.credential, method, url, headers, body)
        resource = route_arn(method, path)
        decision = iam.decide(principal.policy, Request(INVOKE, resource))
        if not decision.allowed:
            raise AuthError(
                f"User: {principal.user_arn} is not authorized to perform: {INVOKE} on "
                f"resource: {resource} because {decision.reason}"
            )
        return {
            "iam": {
                "accessKey": access_key,
                "accountId": ACCOUNT,
                "callerId": access_key,
                "principalOrgId": None,
                "userArn": principal.user_arn,
                "userId": access_key,
                "cognitoIdentity": None,
            }
        }


def _user_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:user/{name if name == ADMINISTRATOR else f'nudge-{name}'}"
