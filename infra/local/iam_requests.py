"""AWS calls as the IAM requests AWS authorizes for them (for nudge_local.iam).

A DynamoDB transaction is one request per item and action, a batch one per table, a Query on
an index names the index's ARN; `dynamodb:LeadingKeys` is every partition key value a call
touches. SQS batch calls are authorized as their single-message actions, S3 calls by object
or bucket ARN, as AWS documents them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from nudge_local.resources import ACCOUNT, REGION, Resolver
from nudge_local.template import StackSpec


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
    expression: Any = params.get("KeyConditionExpression")
    if expression is None:
        return ()
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
        source: Any = params["CopySource"]
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
