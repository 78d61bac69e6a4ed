"""Issue 20: a broadcast never stalls when scheduling its next step fails (SQS redelivers the
step and it finishes, every target pushed once), and a cancel stops its pushes that are
already queued. The real admin_api, broadcaster and push_sender handlers over moto, with the
template's IAM roles enforced, the project's fault injection and the FCM emulator."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from nudge import runtime
from nudge.clock import to_epoch
from nudge.models.device import Device
from nudge.services.messaging import broadcasts as broadcasts_service
from nudge.settings import get_settings
from nudge_local import faults
from nudge_local.fcm_emulator import FcmEmulator, service_account
from nudge_local.stack_environments import fcm_environment
from tests.integration.conftest import Aws, sqs_event
from tests.integration.test_handlers import api_event

pytestmark = pytest.mark.integration

# the next step's SendMessage fails (after the SDK's retries), the pushes' batches do not
NEXT_STEP_UNSENT = {
    "seed": 1,
    "rules": [
        {
            "service": "sqs",
            "operations": ["SendMessage"],
            "queues": ["BroadcastsQueue"],
            "functions": ["BroadcasterFunction"],
            "error": "InternalFailure",
            "rate": 1.0,
        }
    ],
}


@pytest.fixture
def sender(aws: Aws, emulator: FcmEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """push_sender sends to the emulator; broadcasts go two users a step (three steps for
    five users, each a second after the last)."""
    env = {
        **fcm_environment(emulator),
        "NUDGE_FCM_CREDENTIALS_JSON": service_account(f"{emulator.url}/token"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(broadcasts_service, "STEP_MAX_JOBS", 2)
    get_settings.cache_clear()
    runtime.push_service.cache_clear()
    try:
        yield aws
    finally:
        if runtime.push_service.cache_info().currsize:
            runtime.push_service().fcm.close()


def users_with_a_device(aws: Aws, count: int) -> dict[str, str]:
    """user -> the token of their one device."""
    from nudge.adapters.devices import DynamoDeviceStore

    store = DynamoDeviceStore("DevicesTable", ddb=aws.ddb)
    tokens = {}
    for i in range(count):
        user = f"rider-{i}"
        tokens[user] = f"tok-{user}-{uuid.uuid4().hex[:8]}"
        store.put_device(
            Device(
                user_id=user,
                device_id="phone",
                token=tokens[user],
                platform="android",
                locale="nl-NL",
                timezone="Europe/Amsterdam",
                created_at=0,
                updated_at=to_epoch(aws.clock.now()),
            )
        )
    return tokens


def start_broadcast(aws: Aws, users: list[str]) -> str:
    body = {
        "template": {
            "id": "works-notice",
            "category": "transactional",
            "text": {"en": {"title": "Works tonight", "body": "Expect delays"}},
        },
        "target": {"user_ids": users},
        "dedupe_key": f"works-{uuid.uuid4().hex[:8]}",
        "rate_per_minute": 600_000,
    }
    event = api_event("POST", "/admin/v1/broadcasts", json.dumps(body))
    response = aws.invoke("AdminApiFunction", event)
    assert response["statusCode"] == 202, response
    return str(json.loads(response["body"])["broadcast_id"])


def admin(aws: Aws, method: str, broadcast_id: str) -> dict[str, Any]:
    event = api_event(
        method,
        f"/admin/v1/broadcasts/{broadcast_id}",
        route=f"{method} /admin/v1/broadcasts/{{broadcast_id}}",
        params={"broadcast_id": broadcast_id},
    )
    response = aws.invoke("AdminApiFunction", event)
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])  # type: ignore[no-any-return]


def queued(aws: Aws, url: str) -> int:
    """Messages on the queue, visible or not yet (delayed, or being handled)."""
    kinds = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesDelayed",
        "ApproximateNumberOfMessagesNotVisible",
    ]
    attributes = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=kinds)["Attributes"]
    return sum(int(attributes[kind]) for kind in kinds)


def run_steps(aws: Aws, faulty_steps: frozenset[int] = frozenset()) -> list[tuple[int, bool]]:
    """The broadcaster's event source: each step message (after its delay) to the function,
    deleted when handled, visible again at once when it failed (SQS would wait for its
    visibility timeout). The first delivery of a step in `faulty_steps` runs with the next
    step's SendMessage failing. Returns (step, handled) per delivery."""
    url = aws.queue_url("BroadcastsQueue")
    deliveries: list[tuple[int, bool]] = []
    for _ in range(20):
        if not queued(aws, url):
            return deliveries
        received = aws.sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"], WaitTimeSeconds=5
        ).get("Messages", [])
        if not received:
            continue
        (message,) = received
        step = json.loads(message["Body"])["step"]
        first = message["Attributes"]["ApproximateReceiveCount"] == "1"
        plan = NEXT_STEP_UNSENT if step in faulty_steps and first else {"rules": []}
        with faults.injected(plan):
            try:
                result = aws.invoke("BroadcasterFunction", sqs_event("BroadcastsQueue", [message]))
                handled = not result["batchItemFailures"]
            except Exception:  # the whole batch (of one) failed: SQS redelivers it
                handled = False
        deliveries.append((step, handled))
        if handled:
            aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        else:
            aws.sqs.change_message_visibility(
                QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
            )
    raise AssertionError(f"the broadcast's steps never ended: {deliveries}")


def send_pushes(aws: Aws) -> int:
    """push_sender's event source: every queued push, in batches of up to 10; the number of
    jobs handed over."""
    url = aws.queue_url("PushesQueue")
    messages = aws.receive_all("PushesQueue")
    for start in range(0, len(messages), 10):
        batch = messages[start : start + 10]
        event = sqs_event("PushesQueue", batch)
        result = aws.invoke("PushSenderFunction", event)
        assert result["batchItemFailures"] == [], result
        for message in batch:
            aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return len(messages)


def inbox(emulator: FcmEmulator, tokens: dict[str, str]) -> Counter[str]:
    """Pushes the emulator accepted, per user."""
    user_of = {token: user for user, token in tokens.items()}
    messages = emulator.snapshot()["messages"]
    return Counter(user_of[m["token"]] for m in messages if m.get("token") in user_of)


def test_a_step_whose_next_step_could_not_be_queued_is_redelivered_and_the_broadcast_finishes(
    sender: Aws, emulator: FcmEmulator
) -> None:
    aws = sender
    tokens = users_with_a_device(aws, 5)
    broadcast_id = start_broadcast(aws, sorted(tokens))

    deliveries = run_steps(aws, faulty_steps=frozenset({0}))

    assert deliveries[0] == (0, False)  # the next step's send failed: the step is redelivered
    assert [step for step, handled in deliveries if handled] == [0, 1, 2]
    progress = admin(aws, "GET", broadcast_id)
    assert (progress["status"], progress["enqueued"], progress["steps_done"]) == ("done", 5, 3)
    assert send_pushes(aws) >= 5  # step 0's pushes were queued twice: sent once
    assert inbox(emulator, tokens) == dict.fromkeys(tokens, 1)  # every target exactly once
    outcomes = admin(aws, "GET", broadcast_id)["outcomes"]
    assert (outcomes["delivered"], outcomes["suppressed"], outcomes["failed"]) == (5, 0, 0)


def test_a_cancel_stops_the_pushes_already_queued(sender: Aws, emulator: FcmEmulator) -> None:
    aws = sender
    tokens = users_with_a_device(aws, 3)
    broadcast_id = start_broadcast(aws, sorted(tokens))
    url = aws.queue_url("BroadcastsQueue")
    (first,) = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"])[
        "Messages"
    ]
    result = aws.invoke("BroadcasterFunction", sqs_event("BroadcastsQueue", [first]))
    assert result["batchItemFailures"] == []
    aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert admin(aws, "GET", broadcast_id)["enqueued"] == 2  # two pushes wait on the queue

    cancelled = admin(aws, "DELETE", broadcast_id)
    assert cancelled["status"] == "cancelled"
    assert [handled for _, handled in run_steps(aws)] == [True]  # the last step: skipped
    assert send_pushes(aws) == 2

    assert inbox(emulator, tokens) == {}  # nothing sent
    progress = admin(aws, "GET", broadcast_id)
    assert (progress["status"], progress["enqueued"]) == ("cancelled", 2)
    outcomes = progress["outcomes"]
    assert outcomes["delivered"] == 0
    assert outcomes["suppressed_by_reason"] == {"cancelled": 2}
