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


class Resolver:
    def __init__(self, parameters: dict[str, Any]) -> None:
        self.parameters = parameters
        self.physical: dict[str, dict[str, str]] = {}

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self._ref(arg)
            if key == "Fn::GetAtt":
                return self.physical[arg[0]][arg[1]]
            if key == "Fn::Sub":
                return re.sub(r"\$\{([\w:.]+)\}", lambda m: str(self._sub(m.group(1))), arg)
            if key == "Fn::Join":
                return arg[0].join(str(self.resolve(v)) for v in arg[1])
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value

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


def template_parameters(spec: StackSpec, overrides: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, definition in spec.template.get("Parameters", {}).items():
        if name in overrides:
            values[name] = overrides[name]
        elif "Default" in definition:
            values[name] = definition["Default"]
    return values


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
