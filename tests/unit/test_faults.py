"""Faults on purpose: the plan, and AWS's error answers as botocore really handles them.

A real boto3 client (standard retry mode, 4 attempts, as the functions' clients) talks to a
moto server on loopback; the `before-send` hook answers some calls with AWS's error response
instead, and botocore parses, retries and finally raises it as it would against AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from nudge_local import faults


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def as_function(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Calls are made by a function (faults apply only to those)."""
    monkeypatch.setattr(faults, "_principal", lambda: "EventProcessorFunction")
    yield
    faults.reset()


def use(rules: list[dict[str, Any]], seed: int = 1, counts_dir: Path | None = None) -> None:
    raw: dict[str, Any] = {"seed": seed, "rules": rules}
    if counts_dir is not None:
        raw["counts_dir"] = str(counts_dir)
    faults.reset(faults.Plan.parse(raw), "EventProcessorFunction")


def client(service: str, endpoint: str) -> Any:
    config = Config(retries={"mode": "standard", "max_attempts": 4})
    made = boto3.session.Session(region_name="us-east-1").client(  # type: ignore[call-overload]
        service,
        endpoint_url=endpoint,
        config=config,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    events = made.meta.events
    import botocore.handlers

    if ("before-send", faults.maybe_fail) not in botocore.handlers.BUILTIN_HANDLERS:
        events.register("before-send", faults.maybe_fail)
    return made


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's back-off, without the sleeping."""
    import botocore.retries.standard as standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, ctx: 0)


@pytest.fixture(scope="module")
def table(endpoint: str) -> str:
    ddb = client("dynamodb", endpoint)
    for name in ("ProfilesTable", "HistoryTable"):
        ddb.create_table(
            TableName=name,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    return "ProfilesTable"


# ---------- the plan ----------
def test_plan_rejects_what_it_cannot_inject() -> None:
    with pytest.raises(ValueError, match="service"):
        faults.Plan.parse({"rules": [{"service": "s3", "error": "SlowDown"}]})
    with pytest.raises(ValueError, match="dynamodb errors"):
        faults.Plan.parse({"rules": [{"service": "dynamodb", "error": "Boom"}]})
    with pytest.raises(ValueError, match="rate"):
        faults.Plan.parse(
            {"rules": [{"service": "dynamodb", "error": "ThrottlingException", "rate": 2}]}
        )
    with pytest.raises(ValueError, match="unknown keys"):
        faults.Plan.parse({"rules": [{"service": "sqs", "error": "InternalFailure", "tabels": []}]})
    with pytest.raises(ValueError, match="SendMessageBatch"):
        faults.Plan.parse({"rules": [{"service": "sqs", "error": "BatchEntryFailed"}]})
    assert faults.load_plan("") is None


def test_rules_match_by_operation_table_queue_and_function() -> None:
    plan = faults.Plan.parse(
        {
            "rules": [
                {"service": "dynamodb", "operations": ["UpdateItem"], "tables": ["ProfilesTable"],
                 "error": "ThrottlingException"},
                {"service": "sqs", "queues": "PushesQueue", "functions": ["AdminApiFunction"],
                 "error": "InternalFailure"},
            ]
        }
    )  # fmt: skip
    ddb, sqs = plan.rules
    assert ddb.matches("dynamodb", "UpdateItem", "F", {"TableName": "ProfilesTable"})
    assert not ddb.matches("dynamodb", "UpdateItem", "F", {"TableName": "HistoryTable"})
    assert not ddb.matches("dynamodb", "PutItem", "F", {"TableName": "ProfilesTable"})
    assert not ddb.matches("sqs", "UpdateItem", "F", {"TableName": "ProfilesTable"})
    transaction = {"TransactItems": [{"Put": {"TableName": "H"}}, {"Update": {"TableName": "P"}}]}
    assert faults.tables_of(transaction) == {"H", "P"}
    assert faults.tables_of({"RequestItems": {"A": [], "B": []}}) == {"A", "B"}
    url = "http://127.0.0.1:1/123456789012/PushesQueue"
    assert sqs.matches("sqs", "SendMessage", "AdminApiFunction", {"QueueUrl": url})
    assert not sqs.matches("sqs", "SendMessage", "BroadcasterFunction", {"QueueUrl": url})
    assert not sqs.matches("sqs", "SendMessage", "AdminApiFunction", {"QueueUrl": url + "x"})


# ---------- AWS's answers, through botocore's own retries ----------
@pytest.mark.parametrize("error", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_dynamodb_throttling_is_retried_then_raised_as_the_modelled_error(
    endpoint: str, table: str, as_function: None, tmp_path: Path, error: str
) -> None:
    use([{"service": "dynamodb", "error": error, "rate": 1.0}], counts_dir=tmp_path)
    ddb = client("dynamodb", endpoint)
    with pytest.raises(ClientError) as raised:
        ddb.put_item(TableName=table, Item={"pk": {"S": "a"}})
    assert isinstance(raised.value, getattr(ddb.exceptions, error))
    response = raised.value.response
    assert response["Error"]["Code"] == error
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    # botocore's `max_attempts` counts the retries: 5 attempts in all
    assert response["ResponseMetadata"]["RetryAttempts"] == 4
    counts = faults.read_counts(tmp_path)
    assert counts["rules"] == [{"service": "dynamodb", "error": error, "seen": 5, "injected": 5}]
    assert counts["functions"] == {"EventProcessorFunction": 5}
    faults.reset()
    assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "a"}})  # never written


def test_a_throttled_call_that_succeeds_on_retry_is_applied_once(
    endpoint: str, table: str, as_function: None
) -> None:
    use([{"service": "dynamodb", "error": "ProvisionedThroughputExceededException", "rate": 0.3}])
    ddb = client("dynamodb", endpoint)
    retried = 0
    for n in range(20):
        answer = ddb.update_item(
            TableName="HistoryTable",
            Key={"pk": {"S": "counter"}},
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        retried += answer["ResponseMetadata"]["RetryAttempts"]
        assert answer["Attributes"]["n"]["N"] == str(n + 1)
    assert retried > 0
    # seeded: the same plan fails the same calls
    use([{"service": "dynamodb", "error": "ThrottlingException", "rate": 0.5}], seed=3)
    first = [faults._state["plan"].rng.random() for _ in range(5)]
    use([{"service": "dynamodb", "error": "ThrottlingException", "rate": 0.5}], seed=3)
    assert [faults._state["plan"].rng.random() for _ in range(5)] == first


def test_only_the_matching_table_is_throttled(endpoint: str, table: str, as_function: None) -> None:
    use([{"service": "dynamodb", "tables": ["HistoryTable"], "error": "ThrottlingException"}])
    ddb = client("dynamodb", endpoint)
    ddb.put_item(TableName="ProfilesTable", Item={"pk": {"S": "b"}})
    with pytest.raises(ddb.exceptions.ThrottlingException):
        ddb.put_item(TableName="HistoryTable", Item={"pk": {"S": "b"}})
    with pytest.raises(ClientError, match="ThrottlingException"):
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "ProfilesTable", "Item": {"pk": {"S": "c"}}}},
                {"Put": {"TableName": "HistoryTable", "Item": {"pk": {"S": "c"}}}},
            ]
        )


def test_calls_outside_a_function_are_never_failed(endpoint: str, table: str) -> None:
    use([{"service": "dynamodb", "error": "ThrottlingException", "rate": 1.0}])
    try:
        client("dynamodb", endpoint).put_item(TableName=table, Item={"pk": {"S": "op"}})
    finally:
        faults.reset()


@pytest.mark.parametrize(
    ("error", "status"), [("InternalFailure", 500), ("ServiceUnavailable", 503),
                          ("RequestThrottled", 400)]
)  # fmt: skip
def test_sqs_send_failures_are_retried_then_raised(
    endpoint: str, as_function: None, error: str, status: int
) -> None:
    sqs = client("sqs", endpoint)
    faults.reset()
    url = sqs.create_queue(QueueName="PushesQueue")["QueueUrl"]
    use([{"service": "sqs", "operations": ["SendMessage"], "queues": ["PushesQueue"],
          "error": error, "rate": 1.0}])  # fmt: skip
    with pytest.raises(ClientError) as raised:
        sqs.send_message(QueueUrl=url, MessageBody="job")
    response = raised.value.response
    assert response["Error"]["Code"] == error
    assert response["ResponseMetadata"]["HTTPStatusCode"] == status
    assert response["ResponseMetadata"]["RetryAttempts"] == 4
    faults.reset()
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)


def test_sqs_batch_entries_can_fail_alone(endpoint: str, as_function: None) -> None:
    sqs = client("sqs", endpoint)
    faults.reset()
    url = sqs.create_queue(QueueName="EventsQueue")["QueueUrl"]
    use([{"service": "sqs", "operations": ["SendMessageBatch"], "error": "BatchEntryFailed"}])
    answer = sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": "0", "MessageBody": "a"}, {"Id": "1", "MessageBody": "b"}]
    )
    assert answer["ResponseMetadata"]["RetryAttempts"] == 0  # a 200: the caller must retry
    assert [(f["Id"], f["SenderFault"]) for f in answer["Failed"]] == [("0", False), ("1", False)]
    assert answer["Successful"] == []


def test_error_bodies_are_aws_json() -> None:
    response = faults.error_response("dynamodb", "ThrottlingException", "http://x")
    body = json.loads(response.content)
    assert body["__type"] == "com.amazonaws.dynamodb.v20120810#ThrottlingException"
    assert response.headers["x-amz-crc32"]
    sqs = faults.error_response("sqs", "RequestThrottled", "http://x")
    assert sqs.headers["x-amzn-query-error"] == "RequestThrottled;Sender"


# ---------- FCM: a fraction of every send ----------
def test_fcm_emulator_fails_a_seeded_fraction_of_sends_with_retry_after(tmp_path: Path) -> None:
    import asyncio

    from nudge_local.fcm_emulator import FcmEmulator

    emulator = FcmEmulator("127.0.0.1", 0, tmp_path)  # not started: its answers are enough

    def answers(count: int) -> list[tuple[int, dict[str, str]]]:
        replies = [asyncio.run(emulator._answer({"token": f"t{n}"})) for n in range(count)]
        return [(status, headers) for status, _, headers in replies]

    emulator.configure({"rate": 1.0, "errors": ["QUOTA_EXCEEDED"], "seed": 1})
    assert answers(2) == [(429, {"Retry-After": "30"})] * 2
    emulator.configure({"rate": 1.0, "errors": ["UNAVAILABLE:7"]})
    assert answers(1) == [(503, {"Retry-After": "7"})]
    emulator.configure({"rate": 0.3, "errors": ["QUOTA_EXCEEDED", "UNAVAILABLE"], "seed": 5})
    first = answers(50)
    emulator.configure({"rate": 0.3, "errors": ["QUOTA_EXCEEDED", "UNAVAILABLE"], "seed": 5})
    assert answers(50) == first  # seeded: the same sends fail
    assert 5 <= sum(status != 200 for status, _ in first) <= 25
    emulator.configure({"rate": 0})  # off; a token's scripted errors still come first
    emulator.configure({"token": "t0", "errors": ["UNREGISTERED"]})
    assert [status for status, _ in answers(2)] == [404, 200]
    assert emulator.snapshot()["injected"]["UNREGISTERED"] == 1
    with pytest.raises(ValueError, match="unknown FCM error"):
        emulator.configure({"rate": 0.5, "errors": ["NOPE"]})
