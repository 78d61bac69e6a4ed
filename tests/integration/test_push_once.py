"""Issue 18: once FCM accepted a message for a device, nothing that fails later in its job
(the outcome write denied, a crash before anything is recorded) leads to a second send when
SQS delivers the record again, also after the claim's lease. The real push_sender handler,
over moto with the template's IAM roles enforced, sending to the local FCM emulator."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from nudge import runtime
from nudge.adapters import aws as aws_clients
from nudge.adapters.delivery_log import CLAIM_LEASE_S
from nudge.clock import to_epoch
from nudge.models.device import Device
from nudge.settings import get_settings
from nudge_local.fcm_emulator import FcmEmulator, service_account
from nudge_local.stack_environments import fcm_environment
from tests.integration.conftest import Aws, sqs_event

pytestmark = pytest.mark.integration
PAST_THE_LEASE = timedelta(seconds=CLAIM_LEASE_S + 60)  # SQS's 360 s visibility timeout


@pytest.fixture
def sender(aws: Aws, emulator: FcmEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """push_sender's environment as the local stack gives it: the emulator, trusted."""
    env = {
        **fcm_environment(emulator),
        "NUDGE_FCM_CREDENTIALS_JSON": service_account(f"{emulator.url}/token"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    runtime.push_service.cache_clear()
    try:
        yield aws
    finally:
        if runtime.push_service.cache_info().currsize:
            runtime.push_service().fcm.close()


def fail_once(
    operation: str, applies: Callable[[dict[str, Any]], bool], code: str
) -> dict[str, int]:
    """The next `operation` of the functions' DynamoDB client that `applies` to fails once
    with `code` (as AWS would answer it), before it is sent."""
    state = {"failed": 0}

    def hook(params: dict[str, Any], **_: Any) -> None:
        if not state["failed"] and applies(params):
            state["failed"] += 1
            error: Any = {"Error": {"Code": code, "Message": f"injected {code}"}}
            raise ClientError(error, operation)

    client = aws_clients.client("dynamodb")  # the one push_sender's adapters use
    client.meta.events.register(f"before-parameter-build.dynamodb.{operation}", hook)
    return state


def counts_profiles(params: dict[str, Any]) -> bool:
    """A counted outcome's second write: the counters in the profiles table."""
    tables = {next(iter(i.values()))["TableName"] for i in params.get("TransactItems", [])}
    return "ProfilesTable" in tables


def writes_an_outcome(params: dict[str, Any]) -> bool:
    """The first write after the send: the outcome itself (a claim is `sending`)."""
    item = params.get("Item", {})
    return params.get("TableName") == "DeliveryLogTable" and item.get("status", {}).get(
        "S"
    ) not in (None, "sending")


def put_devices(aws: Aws, user: str) -> list[str]:
    from nudge.adapters.devices import DynamoDeviceStore

    store = DynamoDeviceStore("DevicesTable", ddb=aws.ddb)
    tokens = []
    for device_id in ("phone", "tablet"):
        token = f"tok-{user}-{device_id}-{uuid.uuid4().hex[:6]}"
        store.put_device(
            Device(
                user_id=user,
                device_id=device_id,
                token=token,
                platform="android",
                locale="en-GB",
                timezone="Europe/Amsterdam",
                created_at=0,
                updated_at=to_epoch(aws.clock.now()),
            )
        )
        tokens.append(token)
    return tokens


def queue_job(aws: Aws, user: str, source: str, template_id: str) -> dict[str, Any]:
    """The job on the pushes queue, received: its record as the event source would pass it."""
    body = {
        "job_id": f"job-{user}",
        "user_id": user,
        "dedupe_key": f"works-w11-{user}",
        "created_at": aws.clock.now().isoformat(),
        "source": source,
        "template": {
            "id": template_id,
            "category": "transactional",
            "text": {"en": {"title": "Works tonight", "body": "Expect delays"}},
        },
    }
    url = aws.queue_url("PushesQueue")
    aws.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    (message,) = aws.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]
    )["Messages"]
    return message


def deliver(aws: Aws, message: dict[str, Any], receive_count: int) -> list[dict[str, str]]:
    """One delivery of the record to push_sender; its batch item failures."""
    event = sqs_event("PushesQueue", [message], ApproximateReceiveCount=str(receive_count))
    result = aws.invoke("PushSenderFunction", event)
    return list(result["batchItemFailures"])


def inbox(emulator: FcmEmulator, tokens: list[str]) -> Counter[str]:
    """What the emulator accepted for these tokens (GET /_fcm/inbox?token=, per token)."""
    messages = emulator.snapshot()["messages"]
    return Counter(m["token"] for m in messages if m.get("token") in tokens)


def counted(aws: Aws, prefix: str) -> Counter[str]:
    """The named counter's fields over its shards (`#stats#c#<name>...`)."""
    import boto3.dynamodb.types

    deserialize = boto3.dynamodb.types.TypeDeserializer().deserialize
    total: Counter[str] = Counter()
    for item in aws.ddb.scan(TableName="ProfilesTable")["Items"]:
        if item["user_id"]["S"].startswith(f"#stats#c#{prefix}"):
            for name, value in item.items():
                number = deserialize(value)
                if name != "expires_at" and isinstance(number, Decimal):
                    total[name] += int(number)
    return total


def statuses(aws: Aws, user: str) -> dict[str, str]:
    items = aws.ddb.query(
        TableName="DeliveryLogTable",
        KeyConditionExpression="user_id = :u",
        ExpressionAttributeValues={":u": {"S": user}},
    )["Items"]
    return {i["sk"]["S"].rsplit("#", 1)[1]: i.get("status", {}).get("S", "-") for i in items}


JOBS = [
    pytest.param(
        "broadcast:b42", "works-notice", "broadcast#b42", {"delivered": 1}, id="broadcast"
    ),
    pytest.param(
        "campaign:welcome", "welcome.a", "campaign#welcome#", {"delivered.a": 1}, id="campaign"
    ),
]


@pytest.mark.parametrize(("source", "template_id", "counter", "expected"), JOBS)
def test_a_denied_count_after_the_send_is_never_sent_again(
    sender: Aws,
    emulator: FcmEmulator,
    source: str,
    template_id: str,
    counter: str,
    expected: dict[str, int],
) -> None:
    aws = sender
    user = f"ann-{source.split(':')[0]}"
    tokens = put_devices(aws, user)
    message = queue_job(aws, user, source, template_id)
    denied = fail_once("TransactWriteItems", counts_profiles, "AccessDeniedException")

    assert deliver(aws, message, 1) != []  # sent, its count denied: the record fails
    assert denied["failed"] == 1
    assert inbox(emulator, tokens) == dict.fromkeys(tokens, 1)
    assert set(statuses(aws, user).values()) >= {"sent"}

    assert deliver(aws, message, 2) == []  # redelivered: the count is finished, nothing sent
    assert deliver(aws, message, 3) == []
    aws.clock.advance(PAST_THE_LEASE)
    assert deliver(aws, message, 4) == []  # and past the claims' lease

    assert inbox(emulator, tokens) == dict.fromkeys(tokens, 1)  # exactly once per device
    assert dict(counted(aws, counter)) == expected  # counted once
    assert {d: s for d, s in statuses(aws, user).items() if d in ("phone", "tablet")} == {
        "phone": "sent",
        "tablet": "sent",
    }


@pytest.mark.parametrize(("source", "template_id", "counter", "expected"), JOBS)
def test_sent_but_nothing_recorded_is_unknown_never_sent_again(
    sender: Aws,
    emulator: FcmEmulator,
    source: str,
    template_id: str,
    counter: str,
    expected: dict[str, int],
) -> None:
    """The outcome write itself refused (the sender might as well have died there): the
    claim stays `sending`; past its lease the device is recorded `unknown`, not sent to."""
    aws = sender
    user = f"bob-{source.split(':')[0]}"
    tokens = put_devices(aws, user)
    message = queue_job(aws, user, source, template_id)
    throttled = fail_once("PutItem", writes_an_outcome, "ProvisionedThroughputExceededException")

    assert deliver(aws, message, 1) != []
    assert throttled["failed"] == 1
    assert inbox(emulator, tokens) == dict.fromkeys(tokens, 1)

    assert deliver(aws, message, 2) != []  # within the lease: it waits for it to end
    aws.clock.advance(PAST_THE_LEASE)
    assert deliver(aws, message, 3) == []  # past it: the unrecorded device is `unknown`
    assert deliver(aws, message, 4) == []

    assert inbox(emulator, tokens) == dict.fromkeys(tokens, 1)  # exactly once per device
    outcomes = {d: s for d, s in statuses(aws, user).items() if d in ("phone", "tablet")}
    assert sorted(outcomes.values()) == ["sent", "unknown"]
    assert sum(counted(aws, counter).values()) == 1  # the recorded device only
