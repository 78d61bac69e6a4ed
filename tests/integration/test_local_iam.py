"""Local IAM: each function's calls are judged by its role as SAM builds it from template.yaml.

Real boto3 clients over moto, so a denial is what boto3 would raise in AWS; widening the
template (never a second declaration) is what turns a denial into a pass.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from nudge_local import aws_guard, iam
from nudge_local.resources import Resolver
from nudge_local.template import StackSpec
from tests.integration.conftest import Aws


def _acting(aws: Aws, function: str, call: Any) -> Any:
    with aws_guard.acting_as(function):
        return call()


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def test_a_call_outside_the_role_is_denied_as_aws_would(aws: Aws) -> None:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    # events_api may only queue events: reading a profile is not in its role
    with pytest.raises(ClientError) as denied:
        _acting(
            aws,
            "EventsApiFunction",
            lambda: ddb.get_item(TableName="ProfilesTable", Key={"user_id": {"S": "ann"}}),
        )
    assert _code(denied) == "AccessDeniedException"
    message = denied.value.response["Error"]["Message"]
    assert "EventsApiFunction is not authorized to perform: dynamodb:GetItem" in message
    assert "table/ProfilesTable" in message
    # the operator (no function active) is not checked, and the scheduler worker's role
    # allows it (the tick's reaches system items only: '#...')
    ddb.get_item(TableName="ProfilesTable", Key={"user_id": {"S": "ann"}})
    _acting(
        aws,
        "SchedulerWorkerFunction",
        lambda: ddb.get_item(TableName="ProfilesTable", Key={"user_id": {"S": "ann"}}),
    )
    assert aws.iam.denials and "EventsApiFunction" in aws.iam.denials[-1]
    with pytest.raises(ClientError):
        _acting(
            aws,
            "SchedulerFunction",
            lambda: ddb.get_item(TableName="ProfilesTable", Key={"user_id": {"S": "ann"}}),
        )
    _acting(
        aws,
        "SchedulerFunction",
        lambda: ddb.get_item(TableName="ProfilesTable", Key={"user_id": {"S": "#cursor"}}),
    )


def test_queues_and_topics_answer_with_their_own_error_codes(aws: Aws) -> None:
    sqs = boto3.client("sqs", region_name="us-east-1")
    sns = boto3.client("sns", region_name="us-east-1")
    topic = sns.create_topic(Name="elsewhere")["TopicArn"]
    # events_api sends to the events queue, never to the pushes queue
    _acting(
        aws,
        "EventsApiFunction",
        lambda: sqs.send_message(QueueUrl=aws.queue_url("EventsQueue"), MessageBody="{}"),
    )
    with pytest.raises(ClientError) as denied:
        _acting(
            aws,
            "EventsApiFunction",
            lambda: sqs.send_message_batch(
                QueueUrl=aws.queue_url("PushesQueue"), Entries=[{"Id": "1", "MessageBody": "{}"}]
            ),
        )
    assert _code(denied) == "AccessDenied"
    assert "sqs:SendMessage on resource: arn:aws:sqs:us-east-1:123456789012:PushesQueue" in str(
        denied.value
    )
    with pytest.raises(ClientError) as denied:
        _acting(aws, "SchedulerFunction", lambda: sns.publish(TopicArn=topic, Message="x"))
    assert _code(denied) == "AuthorizationError"


def test_leading_keys_are_judged_per_item_of_a_transaction(aws: Aws) -> None:
    """The scheduler may write ConfigsTable only under its campaign pointers and the catalog
    (ForAllValues:StringEquals on dynamodb:LeadingKeys)."""
    ddb = boto3.client("dynamodb", region_name="us-east-1")

    def put(pk: str) -> dict[str, Any]:
        return {"Put": {"TableName": "ConfigsTable", "Item": {"pk": {"S": pk}, "sk": {"S": "x"}}}}

    _acting(
        aws,
        "SchedulerFunction",
        lambda: ddb.transact_write_items(TransactItems=[put("head#campaign"), put("catalog")]),
    )
    with pytest.raises(ClientError) as denied:
        _acting(
            aws,
            "SchedulerFunction",
            lambda: ddb.transact_write_items(
                TransactItems=[put("catalog"), put("version#campaign#welcome")]
            ),
        )
    assert "dynamodb:PutItem" in str(denied.value)
    # a Query's partition is its leading key too
    with pytest.raises(ClientError):
        _acting(
            aws,
            "SchedulerFunction",
            lambda: ddb.query(
                TableName="ConfigsTable",
                KeyConditionExpression="#pk = :pk",
                ExpressionAttributeNames={"#pk": "pk"},
                ExpressionAttributeValues={":pk": {"S": "version#campaign#welcome"}},
            ),
        )
    _acting(
        aws,
        "SchedulerFunction",
        lambda: ddb.query(
            TableName="ConfigsTable",
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "head#campaign"}},
        ),
    )


def test_an_index_is_its_own_resource(aws: Aws) -> None:
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    query = {
        "TableName": "ProfilesTable",
        "IndexName": "due-index",
        "KeyConditionExpression": "due_bucket = :b",
        "ExpressionAttributeValues": {":b": {"S": "2026-01-01T00"}},
    }
    _acting(aws, "SchedulerFunction", lambda: ddb.query(**query))
    with pytest.raises(ClientError) as denied:  # GetItem on the table does not grant the index
        _acting(aws, "EventProcessorFunction", lambda: ddb.query(**query))
    assert "table/ProfilesTable/index/due-index" in str(denied.value)


def _widened(spec: StackSpec, function: str, statement: dict[str, Any]) -> StackSpec:
    template = copy.deepcopy(spec.template)
    policies = template["Resources"][function]["Properties"]["Policies"]
    policies.append({"Statement": [statement]})
    return StackSpec(template=template, functions=spec.functions)


def test_widening_the_template_is_what_makes_a_denied_call_pass(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    ddb = boto3.client("dynamodb", region_name="us-east-1")

    def read() -> Any:
        return ddb.get_item(TableName="ProfilesTable", Key={"user_id": {"S": "ann"}})

    with pytest.raises(ClientError):
        _acting(aws, "EventsApiFunction", read)
    widened = _widened(
        aws.spec,
        "EventsApiFunction",
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": {"Fn::GetAtt": ["ProfilesTable", "Arn"]},
        },
    )
    iam.enforce_for_stack(widened, aws.resolver)
    _acting(aws, "EventsApiFunction", read)
    # an explicit Deny beats every Allow
    denied = _widened(
        widened,
        "EventsApiFunction",
        {"Effect": "Deny", "Action": ["dynamodb:*"], "Resource": "*"},
    )
    iam.enforce_for_stack(denied, aws.resolver)
    with pytest.raises(ClientError) as error:
        _acting(aws, "EventsApiFunction", read)
    assert "explicit deny" in str(error.value)


def test_a_condition_the_local_stack_cannot_evaluate_fails_closed_loudly(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    widened = _widened(
        aws.spec,
        "EventsApiFunction",
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem"],
            "Resource": "*",
            "Condition": {"IpAddress": {"aws:SourceIp": ["10.0.0.0/8"]}},
        },
    )
    iam.enforce_for_stack(widened, aws.resolver)
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    with caplog.at_level(logging.ERROR, logger="local-iam"), pytest.raises(ClientError) as denied:
        _acting(
            aws,
            "EventsApiFunction",
            lambda: ddb.get_item(TableName="ProfilesTable", Key={"user_id": {"S": "ann"}}),
        )
    assert "aws:SourceIp" in str(denied.value)
    assert any("could not evaluate" in r.message for r in caplog.records)


def test_for_all_values_holds_for_an_empty_set_as_in_aws() -> None:
    statement = iam.Statement(
        "Allow",
        ("dynamodb:Scan",),
        ("*",),
        (("ForAllValues:StringLike", "dynamodb:LeadingKeys", ("USER#*",)),),
    )
    role = iam.Role("F", "FRole", [statement])
    assert iam.decide(role, iam.Request("dynamodb:Scan", "arn:t")).allowed
    any_value = iam.Role(
        "F",
        "FRole",
        [
            iam.Statement(
                "Allow",
                ("dynamodb:Scan",),
                ("*",),
                (("ForAnyValue:StringLike", "dynamodb:LeadingKeys", ("USER#*",)),),
            )
        ],
    )
    assert not iam.decide(any_value, iam.Request("dynamodb:Scan", "arn:t")).allowed


def test_sam_expands_policy_templates_and_conditions(aws: Aws) -> None:
    roles = iam.roles_from_template(aws.spec, aws.resolver)
    sender = roles["PushSenderFunction"]
    # SQSSendMessagePolicy, expanded by the SAM translator with the queue's real name
    assert any(
        s.actions == ("sqs:SendMessage*",) and s.resources[0].endswith(":EventsQueue")
        for s in sender.statements
    )
    # the event source mapping's managed policy, attached by SAM
    assert any("sqs:ReceiveMessage" in s.actions for s in sender.statements)
    # !If on an empty parameter resolves to the placeholder, never to a wildcard
    secret = next(s for s in sender.statements if "secretsmanager:GetSecretValue" in s.actions)
    assert all("*" not in r for r in secret.resources)
    assert isinstance(aws.resolver, Resolver)


@pytest.mark.parametrize(
    "overrides",
    [
        {},  # the integration deploy: a secret ARN with moto's random suffix
        {
            "EventsKinesisStreamArn": "arn:aws:kinesis:us-east-1:123456789012:stream/s",
            "ConsoleClientId": "",
            "SchedulerReservedConcurrency": "1",
            "LogLevel": "DEBUG",
        },
    ],
)
def test_the_shared_translation_is_the_one_sam_makes_of_the_values(
    aws: Aws, overrides: dict[str, str]
) -> None:
    """iam.translate runs SAM once with sentinels and puts the values back: the same as
    translating the values themselves, whatever they are."""
    from samtranslator.translator.transform import transform

    class NoLookups:
        def load(self) -> dict[str, str]:
            return {}

    parameters = {**aws.resolver.parameters, **overrides}
    direct = transform(
        iam._with_s3_uris(aws.spec.template),
        {**parameters, "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"},
        NoLookups(),
    )
    assert iam.translate(aws.spec.template, parameters) == direct
