"""The local stack's moto speed-ups answer as moto does: same items, order, pages and errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from nudge_local import moto_speedups

TABLE = "speedups"


def create_table(client: Any, name: str) -> None:
    client.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("pk", "sk", "due_bucket", "due")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "due-index",
                "KeySchema": [
                    {"AttributeName": "due_bucket", "KeyType": "HASH"},
                    {"AttributeName": "due", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
    )


@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_table(client, TABLE)
        moto_speedups.install()
        try:
            yield client
        finally:
            moto_speedups.uninstall()


def item(pk: str, sk: str, **extra: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in extra.items()}}


def stored(ddb: Any, pk: str, sk: str) -> dict[str, Any] | None:
    found = ddb.get_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}})
    return found.get("Item")  # type: ignore[no-any-return]


def every_page(ddb: Any, **query: Any) -> list[list[dict[str, Any]]]:
    pages, start = [], None
    while True:
        more = {"ExclusiveStartKey": start} if start else {}
        page = ddb.query(TableName=TABLE, **query, **more)
        pages.append(page["Items"])
        start = page.get("LastEvaluatedKey")
        if not start:
            return pages


def queries(ddb: Any) -> list[list[list[dict[str, Any]]]]:
    """The queries the stack makes: a partition (both ways, paged, ranged) and the due index."""
    asked = []
    for pk in ("u1", "u2", "nobody"):
        key = {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": pk}}}
        asked.append(every_page(ddb, **key))
        asked.append(every_page(ddb, **key, ScanIndexForward=False, Limit=2))
        ranged = {
            "KeyConditionExpression": "pk = :p AND begins_with(sk, :s)",
            "ExpressionAttributeValues": {":p": {"S": pk}, ":s": {"S": "E#"}},
        }
        asked.append(every_page(ddb, **ranged, Limit=3))
    for bucket in ("10#0", "10#1", "11#0"):
        due = {
            "IndexName": "due-index",
            "KeyConditionExpression": "due_bucket = :b",
            "ExpressionAttributeValues": {":b": {"S": bucket}},
        }
        asked.append(every_page(ddb, **due))
        asked.append(every_page(ddb, **due, Limit=1))
    return asked


keys = st.tuples(st.sampled_from(["u1", "u2", "u3"]), st.sampled_from(["P", "E#1", "E#2", "C#9"]))
writes = st.lists(
    st.tuples(
        st.sampled_from(["put", "update", "remove", "transact"]),
        keys,
        st.sampled_from(["10#0", "10#1", "11#0", None]),
        st.integers(0, 9),
    ),
    max_size=30,
)


def write(ddb: Any, kind: str, pk: str, sk: str, bucket: str | None, due: int) -> None:
    """A put, or an in-place change of the index key (UpdateItem, in a transaction too)."""
    key = {"pk": {"S": pk}, "sk": {"S": sk}}
    if kind == "put":
        extra = {"due_bucket": bucket, "due": f"{due:02d}"} if bucket else {}
        ddb.put_item(TableName=TABLE, Item=item(pk, sk, **extra))
    elif kind == "remove" or bucket is None:
        ddb.update_item(TableName=TABLE, Key=key, UpdateExpression="REMOVE due_bucket")
    else:
        update = {
            "TableName": TABLE,
            "Key": key,
            "UpdateExpression": "SET due_bucket = :b, due = :d",
            "ExpressionAttributeValues": {":b": {"S": bucket}, ":d": {"S": f"{due:02d}"}},
        }
        if kind == "transact":
            ddb.transact_write_items(TransactItems=[{"Update": update}])
        else:
            ddb.update_item(**update)


def as_moto_answers(ddb: Any) -> list[list[list[dict[str, Any]]]]:
    moto_speedups.uninstall()
    try:
        return queries(ddb)
    finally:
        moto_speedups.install()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(writes)
def test_queries_return_what_moto_returns(ddb: Any, changes: list[Any]) -> None:
    # queried halfway too: what was found then must not be answered after later writes
    half = len(changes) // 2
    for kind, (pk, sk), bucket, due in changes[:half]:
        write(ddb, kind, pk, sk, bucket, due)
    assert queries(ddb) == as_moto_answers(ddb)
    for kind, (pk, sk), bucket, due in changes[half:]:
        write(ddb, kind, pk, sk, bucket, due)
    assert queries(ddb) == as_moto_answers(ddb)
    for _, (pk, sk), *_ in changes:  # the next example starts from an empty table
        ddb.delete_item(TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}})


def test_an_index_query_sees_an_item_whose_key_changed_in_place(ddb: Any) -> None:
    due = {
        "IndexName": "due-index",
        "KeyConditionExpression": "due_bucket = :b",
        "ExpressionAttributeValues": {":b": {"S": "10#0"}},
    }
    ddb.put_item(TableName=TABLE, Item=item("u1", "P", due_bucket="10#0", due="01"))
    ddb.put_item(TableName=TABLE, Item=item("u2", "P", due_bucket="11#0", due="02"))
    assert len(every_page(ddb, **due)[0]) == 1  # the index groups are built here
    write(ddb, "update", "u1", "P", "11#0", 2)
    assert every_page(ddb, **due) == [[]]
    write(ddb, "transact", "u2", "P", "10#0", 3)  # moved into the bucket
    assert [i["pk"]["S"] for i in every_page(ddb, **due)[0]] == ["u2"]


def test_a_cancelled_transaction_leaves_every_item_as_it_was(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item=item("u1", "P", stage="new", due_bucket="10#0", due="01"))
    before = stored(ddb, "u1", "P")
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": TABLE,
                        "Key": {"pk": {"S": "u1"}, "sk": {"S": "P"}},
                        "UpdateExpression": "SET stage = :s REMOVE due_bucket",
                        "ExpressionAttributeValues": {":s": {"S": "active"}},
                    }
                },
                {"Put": {"TableName": TABLE, "Item": item("u1", "E#1")}},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": item("u1", "C#9"),
                        "ConditionExpression": "attribute_exists(pk)",  # fails: not there
                    }
                },
            ]
        )
    assert raised.value.response["Error"]["Code"] == "TransactionCanceledException"
    reasons = [r["Code"] for r in raised.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert stored(ddb, "u1", "P") == before
    assert stored(ddb, "u1", "E#1") is None
    assert stored(ddb, "u1", "C#9") is None
    due = ddb.query(
        TableName=TABLE,
        IndexName="due-index",
        KeyConditionExpression="due_bucket = :b",
        ExpressionAttributeValues={":b": {"S": "10#0"}},
    )
    assert [i["pk"]["S"] for i in due["Items"]] == ["u1"]  # still due: the REMOVE was undone


def test_a_transaction_naming_one_item_twice_is_refused_and_undone(ddb: Any) -> None:
    with pytest.raises(ClientError) as raised:
        ddb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": TABLE, "Item": item("u2", "P", stage="new")}},
                {"Put": {"TableName": TABLE, "Item": item("u2", "P", stage="active")}},
            ]
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert stored(ddb, "u2", "P") is None


def test_a_transaction_that_succeeds_writes_everything(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item=item("u3", "E#1"))
    ddb.put_item(TableName=TABLE, Item=item("u3", "C#9"))
    ddb.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": TABLE, "Item": item("u3", "P", stage="active")}},
            {"Delete": {"TableName": TABLE, "Key": {"pk": {"S": "u3"}, "sk": {"S": "E#1"}}}},
            {
                "ConditionCheck": {
                    "TableName": TABLE,
                    "Key": {"pk": {"S": "u3"}, "sk": {"S": "C#9"}},
                    "ConditionExpression": "attribute_not_exists(gone)",
                }
            },
        ]
    )
    assert stored(ddb, "u3", "P") == item("u3", "P", stage="active")
    assert stored(ddb, "u3", "E#1") is None


def item_operations(ddb: Any, table: str) -> list[Any]:
    """Every item operation the adapters use, answered; errors by their code."""
    key = {"pk": {"S": "u1"}, "sk": {"S": "P"}}
    profile = {
        **key,
        "stage": {"S": "new"},
        "n": {"N": "3"},
        "tags": {"SS": ["a", "b"]},
        "m": {"M": {"x": {"L": [{"BOOL": True}, {"NULL": True}]}}},
    }
    calls: list[tuple[str, dict[str, Any]]] = [
        ("put_item", {"Item": profile, "ReturnConsumedCapacity": "TOTAL"}),
        ("put_item", {"Item": {**profile, "n": {"N": "4"}}, "ReturnValues": "ALL_OLD"}),
        ("put_item", {"Item": item("u1", "E#1", due_bucket="10#0", due="05")}),
        ("put_item", {"Item": {**item("u1", "E#2"), "raw": {"B": b"\x00\x01"}}}),
        ("get_item", {"Key": key}),
        ("get_item", {"Key": {"pk": {"S": "u1"}, "sk": {"S": "none"}}}),
        ("get_item", {"Key": key, "ProjectionExpression": "stage, m.x"}),
        ("get_item", {"Key": {"pk": {"S": "u1"}, "sk": {"S": "E#2"}}}),  # binary
        (
            "update_item",
            {
                "Key": key,
                "UpdateExpression": "SET stage = :s ADD n :one",
                "ExpressionAttributeValues": {":s": {"S": "active"}, ":one": {"N": "1"}},
                "ReturnValues": "UPDATED_OLD",
            },
        ),
        (
            "update_item",
            {
                "Key": key,
                "UpdateExpression": "REMOVE tags",
                "ConditionExpression": "stage = :s",
                "ExpressionAttributeValues": {":s": {"S": "new"}},
            },
        ),
        (
            "query",
            {
                "KeyConditionExpression": "pk = :p",
                "Limit": 1,
                "ExpressionAttributeValues": {":p": {"S": "u1"}},
            },
        ),
        ("scan", {"Limit": 2, "ReturnConsumedCapacity": "TOTAL"}),
        (
            "delete_item",
            {"Key": {"pk": {"S": "u1"}, "sk": {"S": "E#1"}}, "ReturnValues": "ALL_OLD"},
        ),
    ]
    answers: list[Any] = []
    for operation, params in calls:
        try:
            answer = getattr(ddb, operation)(TableName=table, **params)
            answer.pop("ResponseMetadata")
            answers.append(answer)
        except ClientError as error:
            answers.append(error.response["Error"]["Code"])
    keys = [key, {"pk": {"S": "u1"}, "sk": {"S": "none"}}]
    batch_get = ddb.batch_get_item(RequestItems={table: {"Keys": keys}})
    answers.append((batch_get["Responses"], batch_get["UnprocessedKeys"]))
    write = [{"PutRequest": {"Item": item("u2", f"E#{n}")}} for n in range(3)]
    answers.append(ddb.batch_write_item(RequestItems={table: write})["UnprocessedItems"])
    got = ddb.transact_get_items(TransactItems=[{"Get": {"TableName": table, "Key": key}}])
    answers.append(got["Responses"])
    transaction = [{"Put": {"TableName": table, "Item": item("u2", "P")}}]
    answers.append(ddb.transact_write_items(TransactItems=transaction).get("ItemCollectionMetrics"))
    return answers


def test_item_operations_answer_as_moto_does(ddb: Any) -> None:
    fast = item_operations(ddb, TABLE)
    create_table(ddb, "stock")
    moto_speedups.uninstall()
    try:
        stock = item_operations(ddb, "stock")
    finally:
        moto_speedups.install()
    assert repr(fast).replace(TABLE, "T") == repr(stock).replace("stock", "T")
    assert "ConditionalCheckFailedException" in fast  # errors still go moto's way


def queue_operations(sqs: Any, name: str) -> list[Any]:
    """What the stack and the functions ask of SQS, with the counts read in between."""
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    counts = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]

    def attributes(names: list[str]) -> Any:
        try:
            found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        except ClientError as error:
            return error.response["Error"]["Code"]
        return {k: v for k, v in found.items() if "Timestamp" not in k and k != "QueueArn"}

    answers = [attributes(counts)]
    entries = [{"Id": str(n), "MessageBody": f"event {n}"} for n in range(6)]
    sqs.send_message_batch(QueueUrl=url, Entries=entries)
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=60)
    answers.append(attributes(counts))
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=4)["Messages"]
    answers.append(sorted(m["Body"] for m in received))
    answers.append(attributes(counts))
    answers.append(attributes(["All"]))
    answers.append(attributes(["MessageRetentionPeriod", "VisibilityTimeout"]))
    answers.append(attributes(["NoSuchAttribute"]))
    handles = [{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(received)]
    sqs.delete_message_batch(QueueUrl=url, Entries=handles)
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    answers.append(sorted(m["Body"] for m in rest))
    answers.append(attributes(counts))
    return answers


def test_queues_answer_as_moto_does() -> None:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="eu-west-1")
        moto_speedups.install()
        try:
            fast = queue_operations(sqs, "fast")
        finally:
            moto_speedups.uninstall()
        stock = queue_operations(sqs, "stock")
    assert fast == stock
    assert fast[1] == {
        "ApproximateNumberOfMessages": "6",
        "ApproximateNumberOfMessagesNotVisible": "0",
        "ApproximateNumberOfMessagesDelayed": "1",
    }
    assert fast[3]["ApproximateNumberOfMessagesNotVisible"] == "4"
