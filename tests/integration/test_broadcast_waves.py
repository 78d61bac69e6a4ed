"""Issue 21 item 8 over moto, with the template's IAM roles enforced: a local-time broadcast
created through admin_api (estimate and planned waves in its answer and its progress), run
by the broadcaster wave after wave (the devices table read with Scan, BatchGetItem and
Query), each user's push queued at 09:00 their time; and a start in the past refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from nudge.adapters import broadcasts as broadcast_adapters
from nudge.adapters.devices import DynamoDeviceStore
from nudge.clock import to_epoch
from nudge.models.broadcast import BroadcastStep
from nudge.models.device import Device, Preferences
from nudge.services.messaging import broadcasts as broadcasts_service
from tests.integration.conftest import Aws, sqs_event
from tests.integration.test_handlers import api_event

pytestmark = pytest.mark.integration

LOCAL_DATE = "2026-03-05"  # three days after tests.conftest.START
HOME = {
    "tokyo": "Asia/Tokyo",
    "amsterdam": "Europe/Amsterdam",
    "new-york": "America/New_York",
    "kolkata": "Asia/Kolkata",
}


def devices(aws: Aws) -> None:
    store = DynamoDeviceStore("DevicesTable", ddb=aws.ddb)
    device_zone = {"tokyo": "Asia/Tokyo", "kolkata": "Asia/Kolkata"}
    locale = {"new-york": "en-US", "nowhere": "en"}  # "en" names no country
    for user in [*HOME, "nowhere"]:
        for n in range(2):  # two devices each: pages end inside users
            store.put_device(
                Device(
                    user_id=user,
                    device_id=f"d{n}",
                    token=f"tok-{user}-{n}",
                    platform="ios",
                    timezone=device_zone.get(user),
                    locale=locale.get(user),
                    created_at=0,
                    updated_at=to_epoch(aws.clock.now()),
                )
            )
    store.save_preferences(
        Preferences(user_id="amsterdam", version=1, timezone="Europe/Amsterdam"), None
    )


def admin(aws: Aws, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    params = {"broadcast_id": path.rsplit("/", 1)[1]} if path.count("/") == 4 else None
    route = f"{method} /admin/v1/broadcasts/{{broadcast_id}}" if params else None
    event = api_event(method, path, json.dumps(body) if body else None, route=route, params=params)
    return aws.invoke("AdminApiFunction", event)


def run_broadcaster(aws: Aws, delays: list[tuple[str, int]]) -> dict[str, datetime]:
    """The step queue as SQS runs it, the clock moved by each step's delay (sent without one,
    so moto hands it over at once); user -> when their push was queued."""
    url = aws.queue_url("BroadcastsQueue")
    queued: dict[str, datetime] = {}
    for _ in range(2_000):
        received = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages")
        if not received:
            return queued
        (message,) = received
        body, delay = delays.pop(0)
        assert body == message["Body"] and 0 <= delay <= 900
        aws.clock.advance(timedelta(seconds=delay))
        result = aws.invoke("BroadcasterFunction", sqs_event("BroadcastsQueue", [message]))
        assert result["batchItemFailures"] == [], result
        aws.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        for push in aws.receive_all("PushesQueue"):
            user = json.loads(push["Body"])["user_id"]
            assert user not in queued  # each user in one wave only
            queued[user] = aws.clock.now()
    raise AssertionError("the broadcast's steps never ended")


def test_a_local_time_broadcast_reaches_each_user_at_nine_their_time(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(broadcasts_service, "STEP_MAX_JOBS", 3)  # pages end inside users
    delays: list[tuple[str, int]] = []

    def schedule(queue: Any, step: BroadcastStep, delay_s: int) -> None:
        delays.append((step.model_dump_json(), delay_s))
        queue.sqs.send_message(QueueUrl=queue.queue_url, MessageBody=step.model_dump_json())

    monkeypatch.setattr(broadcast_adapters.SqsStepQueue, "schedule", schedule)
    devices(aws)
    body = {
        "template": {
            "id": "spring",
            "category": "marketing",
            "text": {"en": {"title": "Hi", "body": "there"}},
        },
        "target": {"all_users": True},
        "dedupe_key": "spring-1",
        "local_time": "09:00",
        "local_date": LOCAL_DATE,
    }
    response = admin(aws, "POST", "/admin/v1/broadcasts", body)
    assert response["statusCode"] == 202, response
    created = json.loads(response["body"])
    assert created["estimate"]["complete"] is True  # no profiles yet: counted, not guessed
    schedule_ = created["schedule"]
    first_wave = datetime(2026, 3, 4, 19, 0, tzinfo=UTC)  # 09:00 at UTC+14
    assert schedule_["next_start"] == first_wave.isoformat()
    assert schedule_["waves"][0] == {"utc_offset_minutes": 840, "at": first_wave.isoformat()}
    planned = schedule_["waves_planned"]
    assert planned >= 35 and schedule_["waves_done"] == 0

    queued = run_broadcaster(aws, delays)

    assert set(queued) == set(HOME)  # "nowhere" has no zone: withheld
    for user, zone in HOME.items():
        assert queued[user].astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M:%S") == (
            f"{LOCAL_DATE} 09:00:00"
        )
    progress = json.loads(
        admin(aws, "GET", f"/admin/v1/broadcasts/{created['broadcast_id']}")["body"]
    )
    assert (progress["status"], progress["enqueued"], progress["scanned"]) == ("done", 4, 5)
    assert progress["schedule"]["waves_done"] == planned
    assert progress["schedule"]["next_start"] is None
    assert progress["outcomes"]["suppressed_by_reason"] == {"unknown_timezone": 1}


def test_a_start_in_the_past_is_refused_naming_the_field(aws: Aws) -> None:
    body = {
        "template": {
            "id": "late",
            "category": "marketing",
            "text": {"en": {"title": "Hi", "body": "there"}},
        },
        "target": {"user_ids": ["a"]},
        "dedupe_key": "late-1",
        "start_at": (aws.clock.now() - timedelta(hours=1)).isoformat(),
    }
    response = admin(aws, "POST", "/admin/v1/broadcasts", body)
    assert response["statusCode"] == 400, response
    assert json.loads(response["body"])["message"].startswith("start_at: ")
    assert aws.receive_all("BroadcastsQueue") == []
