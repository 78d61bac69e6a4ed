"""The local stack's moto server: DynamoDB and SQS take the fast lane to moto's handlers and
answer as moto does (results and errors); other services still go moto's own way."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from nudge_local.moto_server import FAST_LANE_HEADER
from nudge_local.stack_processes import end_group, launch_moto


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server, url = launch_moto("127.0.0.1", subprocess.DEVNULL)
    try:
        yield url
    finally:  # the group: granian serves from a worker process of its own
        end_group(server.pid, 5.0, server)


def client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def lane(response: dict[str, Any]) -> str | None:
    return response["ResponseMetadata"]["HTTPHeaders"].get(FAST_LANE_HEADER)


def test_dynamodb_answers_and_refuses_as_moto_does(endpoint: str) -> None:
    ddb = client("dynamodb", endpoint)
    ddb.create_table(
        TableName="fast",
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
    )
    item = {"pk": {"S": "ann"}, "n": {"N": "1"}}
    assert lane(ddb.put_item(TableName="fast", Item=item)) == "1"
    got = ddb.get_item(TableName="fast", Key={"pk": {"S": "ann"}}, ConsistentRead=True)
    assert got["Item"] == item and lane(got) == "1"
    with pytest.raises(ClientError) as refused:
        ddb.put_item(TableName="fast", Item=item, ConditionExpression="attribute_not_exists(pk)")
    assert refused.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    with pytest.raises(ClientError) as missing:
        ddb.get_item(TableName="nope", Key={"pk": {"S": "ann"}})
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_sqs_answers_and_refuses_as_moto_does(endpoint: str) -> None:
    sqs = client("sqs", endpoint)
    url = sqs.create_queue(QueueName="fast")["QueueUrl"]
    sent = sqs.send_message(QueueUrl=url, MessageBody="hello")
    assert lane(sent) == "1"
    (message,) = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert message["Body"] == "hello" and message["MessageId"] == sent["MessageId"]
    with pytest.raises(ClientError) as missing:
        sqs.get_queue_url(QueueName="nope")
    assert "NonExistentQueue" in missing.value.response["Error"]["Code"]


def test_other_services_take_motos_own_way(endpoint: str) -> None:
    s3 = client("s3", endpoint)
    s3.create_bucket(
        Bucket="slow-lane", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    put = s3.put_object(Bucket="slow-lane", Key="a.json", Body=b"{}")
    assert lane(put) is None
    assert s3.get_object(Bucket="slow-lane", Key="a.json")["Body"].read() == b"{}"
