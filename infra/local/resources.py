"""Create the template's tables, queues and buckets in moto, and resolve Ref/GetAtt/Sub."""

from __future__ import annotations

import json
import re
from typing import Any

from nudge_local.template import StackSpec

REGION = "us-east-1"
ACCOUNT = "123456789012"
PSEUDO = {
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::StackName": "nudge-local",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::Partition": "aws",
}


_NO_VALUE = object()  # AWS::NoValue: the property or list item is left out


class Resolver:
    def __init__(
        self, parameters: dict[str, Any], conditions: dict[str, Any] | None = None
    ) -> None:
        self.parameters = parameters
        self.conditions = conditions or {}
        self.physical: dict[str, dict[str, str]] = {}

    def with_conditions(self, conditions: dict[str, Any]) -> Resolver:
        """The same resources and parameters, able to evaluate these template Conditions."""
        resolver = Resolver(self.parameters, conditions)
        resolver.physical = self.physical
        return resolver

    def resolve(self, value: Any) -> Any:
        resolved = self._resolve(value)
        return None if resolved is _NO_VALUE else resolved

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self._ref(arg)
            if key == "Fn::GetAtt":
                return self.physical[arg[0]][arg[1]]
            if key == "Fn::Sub":
                text, local = (
                    (arg[0], self._resolve(arg[1])) if isinstance(arg, list) else (arg, {})
                )
                return re.sub(
                    r"\$\{([\w:.]+)\}",
                    lambda m: str(
                        local[m.group(1)] if m.group(1) in local else self._sub(m.group(1))
                    ),
                    text,
                )
            if key == "Fn::Join":
                return arg[0].join(str(self._resolve(v)) for v in arg[1])
            if key == "Fn::If":
                return self._resolve(arg[1] if self.condition(arg[0]) else arg[2])
        if isinstance(value, dict):
            resolved = {k: self._resolve(v) for k, v in value.items()}
            return {k: v for k, v in resolved.items() if v is not _NO_VALUE}
        if isinstance(value, list):
            return [v for v in (self._resolve(v) for v in value) if v is not _NO_VALUE]
        return value

    def condition(self, name: str) -> bool:
        """A template Condition (Fn::Equals, Not, And, Or, Condition), evaluated."""
        return self._truth(self.conditions[name])

    def _truth(self, expression: Any) -> bool:
        ((key, arg),) = expression.items()
        if key == "Condition":
            return self.condition(arg)
        if key == "Fn::Equals":
            left, right = (self.resolve(v) for v in arg)
            return str(left) == str(right)
        if key == "Fn::Not":
            return not self._truth(arg[0])
        if key == "Fn::And":
            return all(self._truth(v) for v in arg)
        if key == "Fn::Or":
            return any(self._truth(v) for v in arg)
        raise ValueError(f"local stack can't evaluate condition {key}")

    def _ref(self, name: str) -> Any:
        if name in PSEUDO:
            return PSEUDO[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]["Ref"]
        return f"local-{name}"  # e.g. the layer: meaningless locally, but resolvable

    def _sub(self, token: str) -> Any:
        if "." in token and not token.startswith("AWS::"):
            name, attribute = token.split(".", 1)
            return self.physical[name][attribute]
        return self._ref(token)


def undeployed(spec: StackSpec, resolver: Resolver) -> set[str]:
    """Resources whose template Condition is false with these parameters: a deploy leaves
    them out (the Kinesis consumer without EventsKinesisStreamArn)."""
    conditional = resolver.with_conditions(spec.template.get("Conditions", {}))
    return {
        name
        for name, resource in spec.template["Resources"].items()
        if "Condition" in resource and not conditional.condition(resource["Condition"])
    }


class InvalidParameters(ValueError):
    """What CloudFormation answers before it creates anything (a failed `sam deploy`)."""


def template_parameters(spec: StackSpec, overrides: dict[str, Any]) -> dict[str, Any]:
    """The parameter values a deploy would get, checked as CloudFormation checks them:
    required values present, AllowedPattern (each item of a list type) and AllowedValues."""
    values: dict[str, Any] = {}
    missing, invalid = [], []
    for name, definition in spec.template.get("Parameters", {}).items():
        if name in overrides:
            values[name] = overrides[name]
        elif "Default" in definition:
            values[name] = definition["Default"]
        else:
            missing.append(name)
            continue
        problem = _parameter_problem(name, definition, values[name])
        if problem:
            invalid.append(problem)
    if missing:
        invalid.insert(0, f"Parameters: {missing} must have values")
    if invalid:
        raise InvalidParameters("; ".join(invalid))
    return values


def _parameter_problem(name: str, definition: dict[str, Any], value: Any) -> str | None:
    text = ",".join(value) if isinstance(value, list) else str(value)
    items = text.split(",") if "List" in str(definition.get("Type", "")) else [text]
    pattern = definition.get("AllowedPattern")
    allowed = definition.get("AllowedValues")
    for item in items:
        if pattern is not None and not re.fullmatch(pattern, item):
            why = " ".join(str(definition.get("ConstraintDescription", "")).split())
            return f"Parameter '{name}' must match pattern {pattern}" + (f": {why}" if why else "")
        if allowed is not None and item not in [str(v) for v in allowed]:
            return f"Parameter '{name}' must be one of AllowedValues {allowed}"
    return None


def create_resources(spec: StackSpec, resolver: Resolver, ddb: Any, sqs: Any, s3: Any) -> None:
    queues = spec.resources("AWS::SQS::Queue")
    # dead-letter queues first, so redrive policies can point at them
    ordered = sorted(queues, key=lambda name: "RedrivePolicy" in queues[name])
    for name in ordered:
        _create_queue(name, queues[name], resolver, sqs)
    for name, props in spec.resources("AWS::DynamoDB::Table").items():
        _create_table(name, props, ddb)
        resolver.physical[name] = {
            "Ref": name,
            "Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}",
        }
    for name, props in spec.resources("AWS::S3::Bucket").items():
        bucket = str(resolver.resolve(props.get("BucketName") or f"nudge-local-{name.lower()}"))
        s3.create_bucket(Bucket=bucket)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        resolver.physical[name] = {"Ref": bucket, "Arn": f"arn:aws:s3:::{bucket}"}


def _create_queue(name: str, props: dict[str, Any], resolver: Resolver, sqs: Any) -> None:
    attributes: dict[str, str] = {}
    for key in (
        "VisibilityTimeout",
        "MessageRetentionPeriod",
        "DelaySeconds",
        "ReceiveMessageWaitTimeSeconds",
        "MaximumMessageSize",
    ):
        if key in props:
            attributes[key] = str(props[key])
    if "RedrivePolicy" in props:
        attributes["RedrivePolicy"] = json.dumps(resolver.resolve(props["RedrivePolicy"]))
    queue_name = name + (".fifo" if props.get("FifoQueue") else "")
    if props.get("FifoQueue"):
        attributes["FifoQueue"] = "true"
    url = sqs.create_queue(QueueName=queue_name, Attributes=attributes)["QueueUrl"]
    resolver.physical[name] = {
        "Ref": url,
        "QueueUrl": url,
        "QueueName": queue_name,
        "Arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue_name}",
    }


def table_create_kwargs(name: str, props: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation table properties -> CreateTable arguments (shared with the tests)."""
    kwargs: dict[str, Any] = {
        "TableName": name,
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    if props.get("GlobalSecondaryIndexes"):
        kwargs["GlobalSecondaryIndexes"] = [
            {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
            for index in props["GlobalSecondaryIndexes"]
        ]
    return kwargs


def _create_table(name: str, props: dict[str, Any], ddb: Any) -> None:
    ddb.create_table(**table_create_kwargs(name, props))
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        ddb.update_time_to_live(
            TableName=name,
            TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
        )
