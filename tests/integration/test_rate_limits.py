"""Per-user rate limits on the mobile API's writes (issue 20), through the real handlers with
their IAM roles from template.yaml: the request over the limit is a 429 with Retry-After and a
JSON message, and nothing of it was queued or stored."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from nudge.models.events import QueuedBatch
from nudge_local import faults
from tests.integration.conftest import Aws
from tests.integration.test_handlers import api_event, good_event, post_events

LIMIT = 100  # the template's default EventsRequestsPerUserMinute


def queued_event_ids(aws: Aws) -> list[str]:
    return [
        event.event_id
        for message in aws.receive_all("EventsQueue")
        for event in QueuedBatch.model_validate_json(message["Body"]).events
    ]


def test_the_101st_request_in_a_minute_is_429_and_queues_nothing(aws: Aws) -> None:
    for i in range(LIMIT):
        assert post_events(aws, [good_event(i, aws)])["statusCode"] == 202
    assert len(queued_event_ids(aws)) == LIMIT

    refused = post_events(aws, [good_event(1000 + i, aws) for i in range(50)])

    assert refused["statusCode"] == 429, refused
    retry_after = int(refused["headers"]["Retry-After"])
    assert 1 <= retry_after <= 60
    assert "too many requests" in json.loads(refused["body"])["message"]
    assert queued_event_ids(aws) == []  # not one of its 50 events
    # another user has a budget of their own
    assert post_events(aws, [good_event(2000, aws)], user="bob")["statusCode"] == 202
    # and the next window opens after Retry-After
    aws.clock.advance(timedelta(seconds=retry_after))
    assert post_events(aws, [good_event(3000, aws)])["statusCode"] == 202


def test_the_limit_is_a_deploy_parameter_and_zero_turns_it_off(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.deploy_with(monkeypatch, EventsRequestsPerUserMinute="2")
    assert [post_events(aws, [good_event(i, aws)])["statusCode"] for i in range(3)] == [
        202,
        202,
        429,
    ]
    aws.deploy_with(monkeypatch, EventsRequestsPerUserMinute="0")
    assert post_events(aws, [good_event(9, aws)])["statusCode"] == 202


def devices_call(
    aws: Aws, method: str, path: str, route: str, body: Any = None, **params: str
) -> Any:
    raw = json.dumps(body) if body is not None else None
    event = api_event(method, path, raw, "ann", route=route, params=params)
    return aws.invoke("DevicesApiFunction", event)


def test_device_and_preference_writes_are_limited_per_user(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.deploy_with(monkeypatch, AppWritesPerUserMinute="3")
    route = "PUT /v1/devices/{device_id}"
    answers = [
        devices_call(
            aws,
            "PUT",
            f"/v1/devices/d{i}",
            route,
            {"token": f"fcm:abcdefghijk{i}", "platform": "ios"},
            device_id=f"d{i}",
        )
        for i in range(4)
    ]
    assert [a["statusCode"] for a in answers] == [200, 200, 200, 429]
    assert "Retry-After" in answers[-1]["headers"]
    listed = devices_call(aws, "GET", "/v1/me/devices", "GET /v1/me/devices")  # reads: no limit
    devices = json.loads(listed["body"])["devices"]
    assert sorted(d["device_id"] for d in devices) == ["d0", "d1", "d2"]  # d3 was not stored
    # preferences have a budget of their own
    prefs = {"categories": {"marketing": True}}
    route = "PUT /v1/me/preferences"
    statuses = [devices_call(aws, "PUT", "/v1/me/preferences", route, prefs) for _ in range(4)]
    assert [s["statusCode"] for s in statuses] == [200, 200, 200, 429]


def test_survey_answers_are_limited_per_user(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    aws.deploy_with(monkeypatch, AppWritesPerUserMinute="1")

    def dismiss() -> Any:
        body = json.dumps({"prompt_id": "p-1"})
        route = "POST /v1/surveys/{survey_id}/dismissals"
        event = api_event(
            "POST", "/v1/surveys/s1/dismissals", body, route=route, params={"survey_id": "s1"}
        )
        return aws.invoke("SurveysApiFunction", event)

    assert dismiss()["statusCode"] == 404  # no such survey: counted all the same
    refused = dismiss()
    assert refused["statusCode"] == 429 and json.loads(refused["body"])["message"]


def test_the_mobile_document_declares_the_429(aws: Aws) -> None:
    response = aws.invoke("EventsApiFunction", api_event("GET", "/v1/openapi.json", user=None))
    assert response["headers"]["Cache-Control"] == "public, max-age=86400"
    paths = json.loads(response["body"])["paths"]
    limited = [
        ("/v1/events", "post"),
        ("/v1/devices/{device_id}", "put"),
        ("/v1/devices/{device_id}", "delete"),
        ("/v1/me/preferences", "put"),
        ("/v1/surveys/{survey_id}/responses", "post"),
        ("/v1/surveys/{survey_id}/dismissals", "post"),
    ]
    for path, method in limited:
        answer = paths[path][method]["responses"]["429"]
        assert "Retry-After" in answer["headers"], (path, method)


def test_a_throttled_counter_write_is_a_503_and_lets_nothing_through(aws: Aws) -> None:
    rules = [
        {
            "service": "dynamodb",
            "error": "ProvisionedThroughputExceededException",
            "rate": 1.0,
            "operations": ["UpdateItem"],
        }
    ]
    with faults.injected({"seed": 1, "rules": rules}):
        answer = post_events(aws, [good_event(1, aws)])
    assert answer["statusCode"] == 503, answer
    assert queued_event_ids(aws) == []
