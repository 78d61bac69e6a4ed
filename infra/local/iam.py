"""IAM enforced locally: each function's role as SAM would create it, evaluated as AWS does.

The roles come from template.yaml through the SAM translator itself (policy templates such
as SQSSendMessagePolicy expanded, the managed policies SAM attaches for tracing and event
sources), with intrinsics resolved against the local resources, and AWS managed policies read
from moto's copy of them. Nothing is declared a second time here.

A call is turned into the IAM requests AWS would authorize (a DynamoDB transaction is one
request per item and action, a batch one per table, a Query on an index names the index's
ARN) with the condition keys the template uses (`dynamodb:LeadingKeys`). Evaluation is AWS's:
an explicit Deny wins, then any Allow whose action, resource and conditions all match; else
denied. A condition operator or key this module does not evaluate fails closed, loudly.
"""

from __future__ import annotations

import copy
import fnmatch
import json
import logging
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlparse

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


@dataclass(frozen=True)
class Request:
    """One IAM authorization AWS makes for a call."""

    action: str
    resource: str
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def values(self, key: str) -> tuple[str, ...] | None:
        for name, values in self.context:
            if name == key:
                return values
        return None


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


def _managed_policy(arn: str) -> list[dict[str, Any]]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    name = arn.rsplit("/", 1)[-1]
    policies = json.loads(aws_managed_policies_data)
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


def roles_from_template(spec: StackSpec, resolver: Resolver) -> dict[str, Role]:
    """Every function's role, by the function's logical id, resolved against local resources."""
    from samtranslator.translator.transform import transform

    class _NoLookups:  # the template names managed policies by ARN, never by name
        def load(self) -> dict[str, str]:
            return {}

    parameters = {**resolver.parameters, "AWS::Region": REGION, "AWS::AccountId": ACCOUNT}
    translated = transform(_with_s3_uris(spec.template), parameters, _NoLookups())  # type: ignore[arg-type]
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


# ---------- calls -> requests ----------


@dataclass
class TableKeys:
    """Partition key names per physical table and per index, from the template."""

    tables: dict[str, str] = field(default_factory=dict)
    indexes: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def from_spec(cls, spec: StackSpec, resolver: Resolver) -> TableKeys:
        keys = cls()
        for logical, props in spec.resources("AWS::DynamoDB::Table").items():
            physical = resolver.physical.get(logical, {}).get("Ref", logical)
            keys.tables[physical] = _hash_key(props["KeySchema"])
            for index in props.get("GlobalSecondaryIndexes", []):
                keys.indexes[(physical, index["IndexName"])] = _hash_key(index["KeySchema"])
        return keys


def _hash_key(schema: list[dict[str, str]]) -> str:
    return next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")


def _scalar(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value.values())))
    return str(value)


def _table_arn(table: str, index: str | None = None) -> str:
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
    return f"{arn}/index/{index}" if index else arn


def _leading(
    keys: TableKeys, table: str, items: list[dict[str, Any]]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    name = keys.tables.get(table)
    values = tuple(sorted({_scalar(item[name]) for item in items if name and name in item}))
    return (("dynamodb:LeadingKeys", values),)


def _query_leading(keys: TableKeys, params: dict[str, Any]) -> tuple[str, ...]:
    table, index = params["TableName"], params.get("IndexName")
    name = keys.indexes.get((table, index)) if index else keys.tables.get(table)
    if "KeyConditions" in params:
        condition = params["KeyConditions"].get(name, {})
        return tuple(_scalar(v) for v in condition.get("AttributeValueList", []))
    expression = params.get("KeyConditionExpression")
    if not isinstance(expression, str):  # a boto3 condition object: build it as boto3 will
        from boto3.dynamodb.conditions import ConditionExpressionBuilder

        built = ConditionExpressionBuilder().build_expression(expression, is_key_condition=True)
        expression = built.condition_expression
        names, values = built.attribute_name_placeholders, built.attribute_value_placeholders
    else:
        names = params.get("ExpressionAttributeNames", {})
        values = params.get("ExpressionAttributeValues", {})
    for left, right in re.findall(r"([#\w.]+)\s*=\s*(:\w+)", expression):
        if names.get(left, left) == name and right in values:
            return (_scalar(values[right]),)
    return ()


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def dynamodb_requests(operation: str, params: dict[str, Any], keys: TableKeys) -> list[Request]:
    if operation in ("GetItem", "UpdateItem", "DeleteItem", "PutItem"):
        table = params["TableName"]
        item = params.get("Key") or params.get("Item") or {}
        return [Request(f"dynamodb:{operation}", _table_arn(table), _leading(keys, table, [item]))]
    if operation == "Query":
        table, index = params["TableName"], params.get("IndexName")
        context = (("dynamodb:LeadingKeys", _query_leading(keys, params)),)
        return [Request("dynamodb:Query", _table_arn(table, index), context)]
    if operation == "Scan":
        return [Request("dynamodb:Scan", _table_arn(params["TableName"], params.get("IndexName")))]
    if operation == "BatchGetItem":
        return [
            Request("dynamodb:BatchGetItem", _table_arn(t), _leading(keys, t, spec.get("Keys", [])))
            for t, spec in params.get("RequestItems", {}).items()
        ]
    if operation == "BatchWriteItem":
        requests = []
        for table, writes in params.get("RequestItems", {}).items():
            items = [
                w.get("PutRequest", {}).get("Item") or w.get("DeleteRequest", {}).get("Key") or {}
                for w in writes
            ]
            requests.append(
                Request("dynamodb:BatchWriteItem", _table_arn(table), _leading(keys, table, items))
            )
        return requests
    if operation in ("TransactWriteItems", "TransactGetItems"):
        requests = []
        for entry in params.get("TransactItems", []):
            ((kind, body),) = entry.items()
            table = body["TableName"]
            item = body.get("Key") or body.get("Item") or {}
            requests.append(
                Request(
                    f"dynamodb:{_TRANSACT_ACTIONS[kind]}",
                    _table_arn(table),
                    _leading(keys, table, [item]),
                )
            )
        return requests
    table = params.get("TableName")
    return [Request(f"dynamodb:{operation}", _table_arn(table) if table else "*")]


_SQS_ACTIONS = {
    "SendMessageBatch": "SendMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def sqs_requests(operation: str, params: dict[str, Any]) -> list[Request]:
    action = f"sqs:{_SQS_ACTIONS.get(operation, operation)}"
    if "QueueUrl" in params:
        account, name = urlparse(params["QueueUrl"]).path.strip("/").split("/")[-2:]
        return [Request(action, f"arn:aws:sqs:{REGION}:{account}:{name}")]
    if "QueueName" in params:
        return [Request(action, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{params['QueueName']}")]
    return [Request(action, "*")]


def s3_requests(operation: str, params: dict[str, Any]) -> list[Request]:
    bucket, key = params.get("Bucket"), params.get("Key")
    versioned = bool(params.get("VersionId"))
    object_arn = f"arn:aws:s3:::{bucket}/{key}"
    if operation in ("GetObject", "HeadObject"):
        return [Request("s3:GetObjectVersion" if versioned else "s3:GetObject", object_arn)]
    if operation == "DeleteObject":
        return [Request("s3:DeleteObjectVersion" if versioned else "s3:DeleteObject", object_arn)]
    if operation == "PutObject":
        return [Request("s3:PutObject", object_arn)]
    if operation in ("ListObjects", "ListObjectsV2", "HeadBucket"):
        return [Request("s3:ListBucket", f"arn:aws:s3:::{bucket}")]
    if operation == "ListObjectVersions":
        return [Request("s3:ListBucketVersions", f"arn:aws:s3:::{bucket}")]
    if operation == "CopyObject":
        source = params.get("CopySource")
        source = source if isinstance(source, str) else f"{source['Bucket']}/{source['Key']}"
        return [
            Request("s3:PutObject", object_arn),
            Request("s3:GetObject", f"arn:aws:s3:::{source.lstrip('/').split('?')[0]}"),
        ]
    return [Request(f"s3:{operation}", object_arn if key else f"arn:aws:s3:::{bucket}")]


def requests_for(
    service: str, operation: str, params: dict[str, Any], keys: TableKeys
) -> list[Request]:
    if service == "dynamodb":
        return dynamodb_requests(operation, params, keys)
    if service == "sqs":
        return sqs_requests(operation, params)
    if service == "s3":
        return s3_requests(operation, params)
    if service == "sns" and operation == "Publish":
        return [Request("sns:Publish", params.get("TopicArn") or params.get("TargetArn") or "*")]
    if service == "secretsmanager" and "SecretId" in params:
        secret = params["SecretId"]
        if not secret.startswith("arn:"):
            secret = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{secret}"
        return [Request(f"secretsmanager:{operation}", secret)]
    return [Request(f"{service}:{operation}", "*")]


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
                "ResponseMetadata": {"HTTPStatusCode": _ERROR_STATUS.get(service, 400)},
            },
            model.name,
        )
