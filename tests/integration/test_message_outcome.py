"""GET /admin/v1/messages/{job_id} without an index by job id (issue 23): a message is found in
its user's partition of the delivery log, the user named by `?user_id=` or by the job id
itself (ids POST /admin/v1/users/{user_id}/messages returns, broadcasts' ids). Through the
real admin function, IAM enforced as in AWS."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote

import pytest

from nudge.adapters.delivery_log import DynamoDeliveryLog
from nudge.adapters.metering import WriteMeter
from nudge.domain.config import EngagementConfig
from nudge.models.device import Device
from nudge.models.push import PushJob
from nudge.services.messaging.push import PushService
from tests.fakes.delivery_log import FakeFcm
from tests.fakes.devices import InMemoryDeviceStore
from tests.integration.conftest import Aws
from tests.integration.test_handlers import api_event, deliver, post_events

pytestmark = pytest.mark.integration
ROUTE = "GET /admin/v1/messages/{job_id}"
TEMPLATE = {
    "id": "order_shipped",
    "category": "transactional",
    "text": {"en": {"title": "Order {{ n }} shipped", "body": "On its way"}},
}
# parameters are the same in every xdist worker: no random ids in them
FIXED_HEX = "258dd0be95fe4bb3a75fecf24f363b23"


def _post(aws: Aws, user: str, dedupe_key: str) -> dict[str, Any]:
    body = json.dumps({"template": TEMPLATE, "data": {"n": 17}, "dedupe_key": dedupe_key})
    path = f"/admin/v1/users/{quote(user, safe='')}/messages"
    event = api_event(
        "POST", path, body, route="POST /admin/v1/users/{user_id}/messages", params={}
    )
    answer = aws.invoke("AdminApiFunction", event)
    assert answer["statusCode"] == 202, answer
    return json.loads(answer["body"])


def _get(aws: Aws, path: str) -> tuple[int, dict[str, Any]]:
    """GET a path as the admin API is called (the path URL-encoded, maybe a query)."""
    raw, _, query = path.partition("?")
    answer = aws.invoke("AdminApiFunction", api_event("GET", raw, route=ROUTE, query=query))
    return answer["statusCode"], json.loads(answer["body"])


def _outcome(aws: Aws, job_id: str, user_id: str | None = None) -> tuple[int, dict[str, Any]]:
    query = f"?user_id={quote(user_id, safe='')}" if user_id is not None else ""
    return _get(aws, f"/admin/v1/messages/{quote(job_id, safe='')}{query}")


def _push_sender(aws: Aws, *users: str) -> PushService:
    """push_sender's use case over the stack's delivery log; each user has a phone."""
    devices = InMemoryDeviceStore()
    for user in users:
        devices.put_device(
            Device(
                user_id=user,
                device_id="phone",
                token=f"tok-{user}",
                platform="android",
                locale="en-US",
                timezone="Europe/Amsterdam",
                created_at=0,
                updated_at=int(aws.clock.now().timestamp()),
            )
        )
    log = DynamoDeliveryLog(
        "DeliveryLogTable", WriteMeter(), aws.ddb, counters_table="ProfilesTable"
    )
    return PushService(devices, log, FakeFcm(), EngagementConfig(), aws.clock)


def _send(aws: Aws, service: PushService) -> None:
    for message in aws.receive_all("PushesQueue"):
        assert service.process(message["Body"]).done


def test_a_message_queued_now_is_found_by_its_id_alone(aws: Aws) -> None:
    user = "auth0|ann/42"  # the id carries it: URL-encoded in the path like any job id
    queued = _post(aws, user, "order-A-17")
    assert queued["outcome_url"] == (
        f"/admin/v1/messages/{quote(queued['job_id'], safe='')}?user_id={quote(user, safe='')}"
    )
    assert _outcome(aws, queued["job_id"])[1]["status"] == "unknown or pending"
    _send(aws, _push_sender(aws, user))

    status, alone = _outcome(aws, queued["job_id"])
    assert status == 200, alone
    assert alone["status"] == "processed"
    assert [(d["user_id"], d["device_id"], d["outcome"]) for d in alone["deliveries"]] == [
        (user, "phone", "sent")
    ]
    status, by_url = _get(aws, queued["outcome_url"])
    assert status == 200 and by_url == alone
    assert _outcome(aws, queued["job_id"], user)[1] == alone


def test_the_event_processor_stamps_an_open_on_the_users_record(aws: Aws) -> None:
    queued = _post(aws, "erin", "order-B-2")
    _send(aws, _push_sender(aws, "erin"))
    opened = {
        "event_id": "open-1",
        "name": "push_opened",
        "timestamp": aws.clock.now().isoformat(),
        "properties": {"message_id": queued["job_id"]},
    }
    assert post_events(aws, [opened], user="erin")["statusCode"] == 202
    assert deliver(aws) == {"batchItemFailures": []}  # the processor's role: Query, Update
    (record,) = _outcome(aws, queued["job_id"])[1]["deliveries"]
    assert record["opened_at"] == int(aws.clock.now().timestamp())


def _queue_old_style(
    aws: Aws, job_id: str, user: str, source: str = "api", dedupe_key: str | None = None
) -> None:
    """A job whose id names no user: an admin message queued before (32 hex), a campaign's."""
    job = PushJob.model_validate(
        {
            "job_id": job_id,
            "user_id": user,
            "dedupe_key": dedupe_key or f"key-{job_id}",
            "created_at": aws.clock.now(),
            "template": TEMPLATE,
            "data": {"n": 1},
            "source": source,
        }
    )
    aws.sqs.send_message(QueueUrl=aws.queue_url("PushesQueue"), MessageBody=job.model_dump_json())


@pytest.mark.parametrize("job_id", [FIXED_HEX, "cmp-0123456789abcdef01234567"])
def test_an_id_that_names_no_user_is_answered_with_user_id(aws: Aws, job_id: str) -> None:
    _queue_old_style(aws, job_id, "bob")
    _send(aws, _push_sender(aws, "bob"))

    status, refused = _outcome(aws, job_id)
    assert status == 400, json.dumps(refused)
    assert refused["message"].startswith("user_id: ")
    assert "?user_id=" in refused["message"] and "does not name its user" in refused["message"]

    status, found = _outcome(aws, job_id, "bob")
    assert status == 200 and found["status"] == "processed"
    assert [(d["user_id"], d["job_id"], d["device_id"]) for d in found["deliveries"]] == [
        ("bob", job_id, "phone")
    ]
    # another user's partition holds nothing of it
    assert _outcome(aws, job_id, "carol")[1]["status"] == "unknown or pending"


def test_a_job_sharing_a_dedupe_key_shows_only_its_own_devices(aws: Aws) -> None:
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    sender = _push_sender(aws, "finn")
    _queue_old_style(aws, first, "finn", dedupe_key="order-C-3")
    _send(aws, sender)
    sender.devices.put_device(
        Device(
            user_id="finn",
            device_id="tablet",
            token="tok-finn-tablet",
            platform="android",
            locale="en-US",
            timezone="Europe/Amsterdam",
            created_at=0,
            updated_at=int(aws.clock.now().timestamp()),
        )
    )
    _queue_old_style(aws, second, "finn", dedupe_key="order-C-3")  # the backend sent again
    _send(aws, sender)  # only the new tablet is sent to: it lands in the first job's record
    for job_id, device in ((first, "phone"), (second, "tablet")):
        status, found = _outcome(aws, job_id, "finn")
        assert status == 200 and [d["device_id"] for d in found["deliveries"]] == [device]


def test_a_broadcast_push_is_found_by_its_id_alone(aws: Aws) -> None:
    job_id = f"{uuid.uuid4().hex}-dana"  # what the broadcaster names a user's push
    _queue_old_style(aws, job_id, "dana", source="broadcast:b1")
    _send(aws, _push_sender(aws, "dana"))
    status, found = _outcome(aws, job_id)
    assert status == 200 and [d["device_id"] for d in found["deliveries"]] == ["phone"]


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        (f"/admin/v1/messages/{FIXED_HEX}-%23batch%23x", "user_id: '#'"),
        (f"/admin/v1/messages/{FIXED_HEX}?user_id=%23fatigue", "user_id: '#'"),
        (f"/admin/v1/messages/{'x' * 129}?user_id=ann", "job_id"),
        (f"/admin/v1/messages/{FIXED_HEX}?user_id=", "user_id"),
    ],
)
def test_bad_locations_are_a_400_that_names_the_field(aws: Aws, path: str, fragment: str) -> None:
    status, refused = _get(aws, path)
    assert status == 400, json.dumps(refused)
    assert fragment in json.dumps(refused)
