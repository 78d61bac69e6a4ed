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
    """A counted batch's one write: its marker with the counters in the profiles table."""
    tables = {next(iter(i.values()))["TableName"] for i in params.get("TransactItems", [])}
    return "ProfilesTable" in tables


def commits_a_batch(params: dict[str, Any]) -> bool:
    """An uncounted batch's one write (transactional pushes): its marker alone."""
    user = params.get("Item", {}).get("user_id", {}).get("S", "")
    return params.get("TableName") == "DeliveryLogTable" and user.startswith("#batch#")


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


def outcomes(aws: Aws, user: str) -> dict[str | None, str]:
    """Each device's outcome as the delivery log's readers see it."""
    from nudge.adapters.delivery_log import DynamoDeliveryLog

    return {
        d.device_id: d.outcome
        for d in DynamoDeliveryLog("DeliveryLogTable", ddb=aws.ddb).for_user(user)
    }


JOBS = [
    pytest.param(
        "broadcast:b42", "works-notice", "broadcast#b42", {"delivered": 1}, id="broadcast"
    ),
    pytest.param(
        "campaign:welcome", "welcome.a", "campaign#welcome#", {"delivered.a": 1}, id="campaign"
    ),
]


@pytest.mark.parametrize(("source", "template_id", "counter", "expected"), JOBS)
def test_a_committed_batch_redelivered_sends_and_counts_nothing_again(
    sender: Aws,
    emulator: FcmEmulator,
    source: str,
    template_id: str,
    counter: str,
    expected: dict[str, int],
) -> None:
    """The batch's write landed, then SQS delivered the record again (the ack was lost):
    nothing is sent or counted again, within the claims' lease or past it."""
    aws = sender
    user = f"cy-{source.split(':')[0]}"
    tokens = put_devices(aws, user)
    message = queue_job(aws, user, source, template_id)

    assert deliver(aws, message, 1) == []
    assert deliver(aws, message, 2) == []
    aws.clock.advance(PAST_THE_LEASE)
    assert deliver(aws, message, 3) == []

    assert inbox(emulator, tokens) == dict.fromkeys(tokens, 1)  # exactly once per device
    assert dict(counted(aws, counter)) == expected  # counted once
    assert outcomes(aws, user) == {"phone": "sent", "tablet": "sent"}


@pytest.mark.parametrize(
    ("source", "template_id", "refused"),
    [
        pytest.param("broadcast:b42", "works-notice", "TransactWriteItems", id="broadcast"),
        pytest.param("campaign:welcome", "welcome.a", "TransactWriteItems", id="campaign"),
        pytest.param("api", "order_shipped", "PutItem", id="transactional"),
    ],
)
def test_sent_but_the_batch_never_committed_is_unknown_never_sent_again(
    sender: Aws, emulator: FcmEmulator, source: str, template_id: str, refused: str
) -> None:
    """The batch's one write after the sends (its marker, with the counters when any)
    denied, as a crash there would leave it: the invocation fails and SQS delivers the
    record again; within the lease it waits, past it the devices are recorded `unknown`
    (FCM may have accepted them), not sent to again, and nothing is counted."""
    aws = sender
    user = f"bob-{source.split(':')[0]}"
    tokens = put_devices(aws, user)
    message = queue_job(aws, user, source, template_id)
    applies = counts_profiles if refused == "TransactWriteItems" else commits_a_batch
    denied = fail_once(refused, applies, "AccessDeniedException")

    with pytest.raises(ClientError, match="AccessDenied"):
        deliver(aws, message, 1)
    assert denied["failed"] == 1
    assert inbox(emulator, tokens) == dict.fromkeys(tokens, 1)

    assert deliver(aws, message, 2) != []  # within the lease: it waits for it to end
    aws.clock.advance(PAST_THE_LEASE)
    assert deliver(aws, message, 3) == []  # past it: the devices are `unknown`
    assert deliver(aws, message, 4) == []

    assert inbox(emulator, tokens) == dict.fromkeys(tokens, 1)  # exactly once per device
    assert outcomes(aws, user) == {"phone": "unknown", "tablet": "unknown"}
    assert sum(counted(aws, source.replace(":", "#")).values()) == 0
