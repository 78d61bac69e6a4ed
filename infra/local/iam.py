"""IAM enforced locally: each function's role as SAM would create it, evaluated as AWS does.

The roles come from template.yaml through the SAM translator itself (policy templates such
as SQSSendMessagePolicy expanded, the managed policies SAM attaches for tracing and event
sources), with intrinsics resolved against the local resources, and AWS managed policies read
from moto's copy of them. Nothing is declared a second time here.

A call is turned into the IAM requests AWS would authorize (`iam_requests`), with the
condition keys the template uses (`dynamodb:LeadingKeys`). Evaluation is AWS's:
an explicit Deny wins, then any Allow whose action, resource and conditions all match; else
denied. A condition operator or key this module does not evaluate fails closed, loudly.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import logging
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from nudge_local.iam_requests import Request, TableKeys, requests_for
from nudge_local.resources import ACCOUNT, REGION, Resolver
from nudge_local.template import StackSpec

log = logging.getLogger("local-iam")

SUPPORTED_CONDITION_KEYS = {"dynamodb:LeadingKeys"}
_STRING_OPERATORS = {"StringEquals", "StringLike", "StringNotEquals", "StringNotLike"}


class UnsupportedCondition(Exception):
    """A policy condition the local evaluator can't judge: the statement never allows."""


@dataclass(frozen=True)
class Statement:
    effect: str
    actions: tuple[str, ...]
    resources: tuple[str, ...]
    conditions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    not_actions: tuple[str, ...] = ()


@dataclass
class Role:
    function: str
    name: str
    statements: list[Statement] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "function": self.function,
                "name": self.name,
                "statements": [
                    [s.effect, s.actions, s.resources, s.conditions, s.not_actions]
                    for s in self.statements
                ],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Role:
        raw = json.loads(text)
        statements = [
            Statement(
                effect,
                tuple(actions),
                tuple(resources),
                tuple((op, key, tuple(values)) for op, key, values in conditions),
                tuple(not_actions),
            )
            for effect, actions, resources, conditions, not_actions in raw["statements"]
        ]
        return cls(raw["function"], raw["name"], statements)


# ---------- roles from the template ----------


def _with_s3_uris(template: dict[str, Any]) -> dict[str, Any]:
    """The translator wants code in S3 (as `sam package` leaves it); the paths don't matter."""
    template = copy.deepcopy(template)
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(key), str):
                properties[key] = f"s3://nudge-local-code/{properties[key]}"
    return template


@cache
def _aws_managed_policies() -> dict[str, Any]:
    """moto's copy of the AWS managed policies: 70 ms of JSON, parsed once a process."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return dict(json.loads(aws_managed_policies_data))


def _managed_policy(arn: str) -> list[dict[str, Any]]:
    name = arn.rsplit("/", 1)[-1]
    policies = _aws_managed_policies()
    if name not in policies:
        raise UnsupportedCondition(f"AWS managed policy {arn} is unknown to the local stack")
    statements = policies[name]["Document"]["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return tuple(str(v) for v in (value if isinstance(value, list) else [value]))


def _statement(raw: dict[str, Any]) -> Statement:
    conditions = []
    for operator, keys in (raw.get("Condition") or {}).items():
        for key, values in keys.items():
            conditions.append((operator, key, _as_tuple(values)))
    return Statement(
        effect=raw["Effect"],
        actions=_as_tuple(raw.get("Action")),
        resources=_as_tuple(raw.get("Resource")),
        conditions=tuple(conditions),
        not_actions=_as_tuple(raw.get("NotAction")),
    )


_translations: dict[str, str] = {}


def translate(template: dict[str, Any], parameters: dict[str, Any]) -> dict[str, Any]:
    """SAM's own translation of the template (about a second), once per template and set of
    parameter names: the values go in as sentinels and are put back into the output, so
    deploys that differ only in values (a secret ARN's random suffix in every test) share it.
    SAM leaves a parameter as a Ref or copies its value in; it never branches on it here
    (tests/integration/test_local_iam.py compares this with a translation of the values)."""
    from samtranslator.translator.transform import transform

    class _NoLookups:  # the template names managed policies by ARN, never by name
        def load(self) -> dict[str, str]:
            return {}

    sentinels = {name: f"nudge-local-parameter-{n}-" for n, name in enumerate(sorted(parameters))}
    key = json.dumps([template, sorted(parameters)], sort_keys=True, default=str)
    if key not in _translations:
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
        done = transform(_with_s3_uris(template), {**sentinels, **pseudo}, _NoLookups())
        _translations[key] = json.dumps(done)
    text = _translations[key]
    # longest first: parameter-1- must not be replaced inside parameter-12-
    for name, sentinel in sorted(sentinels.items(), key=lambda item: -len(item[1])):
        text = text.replace(sentinel, json.dumps(str(parameters[name]))[1:-1])
    return dict(json.loads(text))


def roles_from_template(spec: StackSpec, resolver: Resolver) -> dict[str, Role]:
    """Every function's role, by the function's logical id, resolved against local resources."""
    translated = translate(spec.template, resolver.parameters)
    resources = translated["Resources"]
    conditions = {**spec.template.get("Conditions", {}), **translated.get("Conditions", {})}
    role_resolver = resolver.with_conditions(conditions)
    roles = {}
    for function in spec.functions:
        role_ref = resources[function]["Properties"]["Role"]
        role_id = role_ref["Fn::GetAtt"][0]
        properties = resources[role_id]["Properties"]
        role = Role(function, role_id)
        for arn in properties.get("ManagedPolicyArns", []):
            role.statements.extend(_statement(s) for s in _managed_policy(arn))
        for policy in properties.get("Policies", []):
            document = role_resolver.resolve(policy["PolicyDocument"])
            statements = document["Statement"]
            for raw in statements if isinstance(statements, list) else [statements]:
                role.statements.append(_statement(raw))
        roles[function] = role
    return roles


# ---------- evaluation ----------


def _like(pattern: str, value: str, case_sensitive: bool = True) -> bool:
    if not case_sensitive:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


def _condition_holds(operator: str, key: str, expected: tuple[str, ...], request: Request) -> bool:
    if key not in SUPPORTED_CONDITION_KEYS:
        raise UnsupportedCondition(f"condition key {key!r} is not evaluated by the local stack")
    qualifier, _, base = operator.rpartition(":")
    if base.endswith("IfExists") or base not in _STRING_OPERATORS:
        raise UnsupportedCondition(f"condition operator {operator!r} is not evaluated locally")
    if qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise UnsupportedCondition(f"condition qualifier {qualifier!r} is not evaluated locally")
    negated = "Not" in base

    def matches(value: str) -> bool:
        hit = any(_like(p, value) if base.endswith("Like") else p == value for p in expected)
        return hit != negated

    values = request.values(key) or ()
    if qualifier == "ForAllValues":
        return all(matches(v) for v in values)  # an empty set satisfies ForAllValues
    if qualifier == "ForAnyValue":
        return any(matches(v) for v in values)
    if not values:
        return negated  # a missing key: only the negated operators hold
    return all(matches(v) for v in values)


def _statement_matches(statement: Statement, request: Request) -> bool:
    if statement.not_actions:
        if any(_like(p, request.action, case_sensitive=False) for p in statement.not_actions):
            return False
    elif not any(_like(p, request.action, case_sensitive=False) for p in statement.actions):
        return False
    if not any(_like(p, request.resource) for p in statement.resources):
        return False
    return all(
        _condition_holds(op, key, values, request) for op, key, values in statement.conditions
    )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def decide(role: Role, request: Request) -> Decision:
    allowed = False
    problems = []
    for statement in role.statements:
        try:
            hit = _statement_matches(statement, request)
        except UnsupportedCondition as error:
            problems.append(str(error))  # fails closed: never allows, never denies
            continue
        if hit and statement.effect == "Deny":
            return Decision(False, "an explicit deny in an identity-based policy")
        allowed = allowed or (hit and statement.effect == "Allow")
    if allowed:
        return Decision(True, "allowed")
    if problems:
        log.error(
            "local IAM could not evaluate %s for %s: %s",
            request.action,
            role.function,
            "; ".join(sorted(set(problems))),
        )
        return Decision(
            False,
            "no identity-based policy allows it that the local stack can "
            "evaluate (" + "; ".join(sorted(set(problems))) + ")",
        )
    return Decision(False, f"no identity-based policy allows the {request.action} action")


# ---------- the boto3 hook ----------

_ERROR_CODES = {"sqs": "AccessDenied", "s3": "AccessDenied", "sns": "AuthorizationError"}
_ERROR_STATUS = {"s3": 403, "sns": 403}


@dataclass
class Enforcement:
    """The roles and key schemas of one stack: what the hook evaluates against."""

    roles: dict[str, Role]
    keys: TableKeys
    denials: list[str] = field(default_factory=list)


_enforcement: dict[str, Enforcement | None] = {"current": None}


def enforce(roles: dict[str, Role], keys: TableKeys) -> Enforcement:
    """Evaluate every call made while a function is active against these roles."""
    enforcement = Enforcement(roles, keys)
    _enforcement["current"] = enforcement
    from nudge_local import aws_guard

    aws_guard.install()
    return enforcement


_compiled: dict[str, dict[str, Role]] = {}


def stack_roles(spec: StackSpec, resolver: Resolver) -> dict[str, Role]:
    """roles_from_template, translated once per template, parameters and resources (the SAM
    translator takes about two seconds)."""
    arns = {name: p.get("Arn") for name, p in resolver.physical.items()}
    key = json.dumps([spec.template, resolver.parameters, arns], sort_keys=True, default=str)
    if key not in _compiled:
        _compiled[key] = roles_from_template(spec, resolver)
    return _compiled[key]


def enforce_for_stack(spec: StackSpec, resolver: Resolver) -> Enforcement:
    return enforce(stack_roles(spec, resolver), TableKeys.from_spec(spec, resolver))


@cache
def _service_prefix(service_model: Any) -> str:
    return str(service_model.signing_name or service_model.endpoint_prefix)


def check_call(params: dict[str, Any], model: Any, **_: Any) -> None:
    """botocore `before-parameter-build` hook: deny what the active function's role won't allow."""
    from nudge_local import aws_guard

    principal = aws_guard.current_principal()
    if principal is None:
        return
    enforcement = _enforcement["current"]
    if enforcement is None or principal not in enforcement.roles:
        raise RuntimeError(f"local IAM: no role is loaded for {principal} (call enforce first)")
    role = enforcement.roles[principal]
    service = _service_prefix(model.service_model)
    for request in requests_for(service, model.name, params, enforcement.keys):
        decision = decide(role, request)
        if decision.allowed:
            continue
        from botocore.exceptions import ClientError

        message = (
            f"User: arn:aws:sts::{ACCOUNT}:assumed-role/nudge-local-{role.name}/{principal} "
            f"is not authorized to perform: {request.action} on resource: {request.resource} "
            f"because {decision.reason}"
        )
        enforcement.denials.append(message)
        log.warning("local IAM denied %s", message)
        raise ClientError(
            {
                "Error": {
                    "Code": _ERROR_CODES.get(service, "AccessDeniedException"),
                    "Message": message,
                },
                "ResponseMetadata": {  # type: ignore[typeddict-item]
                    "HTTPStatusCode": _ERROR_STATUS.get(service, 400)
                },
            },
            model.name,
        )
