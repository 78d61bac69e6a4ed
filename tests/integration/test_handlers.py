"""The real handlers, invoked with the sample events and API Gateway v2 payloads, over moto."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest

from nudge.api.openapi import MOBILE_OPENAPI_PATH
from nudge.models.events import QueuedBatch
from nudge_local.gateway import build_event
from tests.integration.conftest import Aws, sample_event, sample_paths, sqs_event

pytestmark = pytest.mark.integration

FUNCTION_BY_DIR = {
    "events_api": "EventsApiFunction",
    "devices_api": "DevicesApiFunction",
    "event_processor": "EventProcessorFunction",
    "scheduler": "SchedulerFunction",
    "scheduler_worker": "SchedulerWorkerFunction",
    "admin_api": "AdminApiFunction",
    "push_sender": "PushSenderFunction",
    "broadcaster": "BroadcasterFunction",
    "config_loader": "ConfigLoaderFunction",
}


def api_event(
    method: str,
    path: str,
    body: bytes | str | None = None,
    user: str | None = "ann",
    route: str | None = None,
    params: dict[str, str] | None = None,
    query: str = "",
) -> dict[str, Any]:
    raw = body.encode() if isinstance(body, str) else (body or b"")
    authorizer = {"jwt": {"claims": {"sub": user}, "scopes": None}} if user else None
    if path.startswith("/admin/"):
        authorizer = {"iam": {"accessKey": "AK", "userArn": "arn:aws:iam::1:user/ops"}}
    return build_event(
        method,
        path,
        query,
        {"content-type": "application/json"},
        raw,
        route or f"{method} {path}",
        params or {},
        authorizer,
    )


def post_events(aws: Aws, events: list[Any], user: str | None = "ann") -> dict[str, Any]:
    body = json.dumps({"events": events})
    return aws.invoke("EventsApiFunction", api_event("POST", "/v1/events", body, user))  # type: ignore[no-any-return]


def good_event(i: int, aws: Aws, name: str = "session_start", **props: Any) -> dict[str, Any]:
    return {
        "event_id": f"e-{i}",
        "name": name,
        "timestamp": aws.clock.now().isoformat(),
        "properties": props,
    }


def deliver(aws: Aws) -> dict[str, Any]:
    """Hand everything on the events queue to event_processor, as the event source would."""
    messages = aws.receive_all("EventsQueue")
    event = sqs_event("EventsQueue", messages)
    return aws.invoke("EventProcessorFunction", event)  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", sample_paths(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_sample_event_is_handled_without_error(aws: Aws, path: Any) -> None:
    function = FUNCTION_BY_DIR[path.parent.name]
    result = aws.invoke(function, json.loads(path.read_text()))
    if isinstance(result, dict) and "statusCode" in result:
        assert result["statusCode"] < 500, result


def test_ingest_queues_valid_events_under_the_jwt_subject(aws: Aws) -> None:
    response = aws.invoke("EventsApiFunction", sample_event("events_api/post_events.json"))
    assert response["statusCode"] == 202
    body = json.loads(response["body"])
    assert body["accepted"] == 2
    assert body["rejected"][0]["index"] == 2 and "timestamp" in body["rejected"][0]["error"]
    (message,) = aws.receive_all("EventsQueue")
    batch = QueuedBatch.model_validate_json(message["Body"])
    assert batch.user_id == "user-42" and len(batch.events) == 2


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ("{not json", 400, "not valid JSON"),
        ("[]", 400, "invalid request"),
        ('{"events": []}', 400, "events"),
        ('{"events": "x"}', 400, "events"),
        ('{"events": [], "extra": 1}', 400, "extra"),
        (json.dumps({"events": [{}] * 101}), 400, "at most 100"),
        ("", 400, "invalid request"),
    ],
)
def test_whole_request_problems_are_clear_4xx(
    aws: Aws, body: str, status: int, fragment: str
) -> None:
    response = aws.invoke("EventsApiFunction", api_event("POST", "/v1/events", body))
    assert response["statusCode"] == status, response
    assert fragment in json.loads(response["body"])["message"]


def test_oversized_body_is_413(aws: Aws) -> None:
    body = json.dumps({"events": [{"event_id": "x", "pad": "y" * 300_000}]})
    response = aws.invoke("EventsApiFunction", api_event("POST", "/v1/events", body))
    assert response["statusCode"] == 413


def test_invalid_utf8_is_400_not_500(aws: Aws) -> None:
    event = api_event("POST", "/v1/events", b'{"events": ["\xff\xfe"]}')
    assert event["isBase64Encoded"] is True
    response = aws.invoke("EventsApiFunction", event)
    assert response["statusCode"] == 400
    assert "UTF-8" in json.loads(response["body"])["message"]


def test_invalid_base64_is_400(aws: Aws) -> None:
    event = api_event("POST", "/v1/events", "{}")
    event.update(isBase64Encoded=True, body="***not base64***")
    assert aws.invoke("EventsApiFunction", event)["statusCode"] == 400


@pytest.mark.parametrize("claims", [{}, {"sub": ""}, {"sub": "#scheduler-cursor"}])
def test_missing_or_reserved_subject_is_refused(aws: Aws, claims: dict[str, str]) -> None:
    event = api_event("POST", "/v1/events", json.dumps({"events": [good_event(1, aws)]}))
    event["requestContext"]["authorizer"]["jwt"]["claims"] = claims
    assert aws.invoke("EventsApiFunction", event)["statusCode"] in (401, 403)


def test_huge_and_odd_strings_are_rejected_per_event(aws: Aws) -> None:
    events = [
        good_event(1, aws),
        {**good_event(2, aws), "name": "x" * 10_000},
        {**good_event(3, aws), "properties": {"k": "v" * 5000}},
        {**good_event(4, aws), "properties": {"emoji": "🚆 Zürich"}},
        {**good_event(5, aws), "user_id": "mallory"},
    ]
    body = json.loads(post_events(aws, events)["body"])
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 2, 4]


def test_openapi_is_served_and_current(aws: Aws) -> None:
    response = aws.invoke("EventsApiFunction", sample_event("events_api/get_openapi.json"))
    assert response["statusCode"] == 200
    served = json.loads(response["body"])
    assert served == json.loads(MOBILE_OPENAPI_PATH.read_text())
    assert "/v1/events" in served["paths"] and "/v1/me" in served["paths"]
    items = served["components"]["schemas"]["EventBatch"]["properties"]["events"]["items"]
    assert set(items["required"]) == {"event_id", "name", "timestamp"}


def test_processor_reports_only_the_poison_record(aws: Aws) -> None:
    event = sample_event("event_processor/sqs_batch.json")
    result = aws.invoke("EventProcessorFunction", event)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    again = aws.invoke("EventProcessorFunction", {"Records": event["Records"][:1]})
    assert again == {"batchItemFailures": []}
    export = aws.invoke("DevicesApiFunction", sample_event("devices_api/get_me.json"))
    profile = json.loads(export["body"])["profile"]
    assert profile["counts"]["session_start"]["total"] == 1  # redelivery counted once


def test_pipeline_ingest_process_schedule_export_erase(aws: Aws) -> None:
    post_events(aws, [good_event(1, aws), good_event(2, aws, "purchase", amount=20)])
    post_events(aws, [good_event(1, aws)])  # the app retried: same event_id
    assert deliver(aws) == {"batchItemFailures": []}

    me = json.loads(aws.invoke("DevicesApiFunction", api_event("GET", "/v1/me"))["body"])
    assert me["profile"]["stage"] == "new"
    assert me["profile"]["counts"]["session_start"]["total"] == 1
    assert me["summary"]["sessions"] == 1
    assert {r["event_id"] for r in me["history"] if r["type"] == "event"} == {"e-1", "e-2"}

    aws.clock.advance(timedelta(days=8))
    tick = sample_event("scheduler/tick.json")
    aws.invoke("SchedulerFunction", tick)  # fans the due buckets out to scheduler_worker
    for message in aws.receive_all("SchedulerShardsQueue"):
        work = sqs_event("SchedulerShardsQueue", [message])
        assert aws.invoke("SchedulerWorkerFunction", work) == {"batchItemFailures": []}
    report = json.loads(
        aws.invoke("AdminApiFunction", sample_event("admin_api/lifecycle_report.json"))["body"]
    )
    assert report["stages"]["at_risk"] == 1 and report["transitions"] == {"new->at_risk": 1}

    erased = json.loads(aws.invoke("DevicesApiFunction", api_event("DELETE", "/v1/me"))["body"])
    assert erased == {
        "profile_erased": True,
        "history_records_erased": 4,
        "device_records_erased": 0,
        "survey_records_erased": 0,
        "delivery_records_erased": 0,
        "broadcasts_erased_from": 0,
    }
    after = json.loads(aws.invoke("DevicesApiFunction", api_event("GET", "/v1/me"))["body"])
    assert after["profile"] is None and after["history"] == []


def test_admin_export_uses_the_path_user(aws: Aws) -> None:
    post_events(aws, [good_event(1, aws)], user="user-42")
    deliver(aws)
    response = aws.invoke("AdminApiFunction", sample_event("admin_api/export_user.json"))
    assert json.loads(response["body"])["profile"]["user_id"] == "user-42"


def test_admin_report_validates_query(aws: Aws) -> None:
    event = api_event("GET", "/admin/v1/reports/lifecycle", query="days=0")
    response = aws.invoke("AdminApiFunction", event)
    assert response["statusCode"] == 400
    assert "days" in json.loads(response["body"])["message"]


def test_unknown_route_is_404(aws: Aws) -> None:
    response = aws.invoke("DevicesApiFunction", api_event("GET", "/v1/nothing"))
    assert response["statusCode"] == 404


def test_base64_body_that_is_valid_json_works(aws: Aws) -> None:
    raw = json.dumps({"events": [good_event(1, aws)]}).encode()
    event = api_event("POST", "/v1/events", raw)
    event.update(isBase64Encoded=True, body=base64.b64encode(raw).decode())
    assert aws.invoke("EventsApiFunction", event)["statusCode"] == 202


@pytest.mark.parametrize(
    "body",
    ['{"events": ' + "[" * 5000 + "]" * 5000 + "}", '{"events": [' + "9" * 5000 + "]}"],
    ids=["deeply-nested", "huge-number"],
)
def test_pathological_json_is_400(aws: Aws, body: str) -> None:
    response = aws.invoke("EventsApiFunction", api_event("POST", "/v1/events", body))
    assert response["statusCode"] == 400
    assert "nested too deeply or has a huge number" in json.loads(response["body"])["message"]


def test_queue_outage_is_503_not_500(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    from nudge import runtime

    service = runtime.ingest_service()

    def down(batches: object) -> list[int]:
        raise ConnectionError("SQS unreachable")

    monkeypatch.setattr(service.publisher, "publish", down)
    response = post_events(aws, [good_event(1, aws)])
    assert response["statusCode"] == 503


def test_admin_ids_are_url_decoded_and_system_keys_refused(aws: Aws) -> None:
    post_events(aws, [good_event(1, aws)], user="auth0|abc")
    deliver(aws)
    path = "/admin/v1/users/auth0%7Cabc"
    event = api_event(
        "DELETE", path, route="DELETE /admin/v1/users/{user_id}", params={"user_id": "auth0%7Cabc"}
    )
    erased = json.loads(aws.invoke("AdminApiFunction", event)["body"])
    assert erased["profile_erased"] is True
    system = api_event(
        "GET",
        "/admin/v1/users/%23scheduler-cursor",
        route="GET /admin/v1/users/{user_id}",
        params={"user_id": "%23scheduler-cursor"},
    )
    response = aws.invoke("AdminApiFunction", system)
    assert response["statusCode"] == 400


def test_devices_and_preferences_through_the_handler(aws: Aws) -> None:
    def call(
        method: str,
        path: str,
        body: Any = None,
        user: str = "ann",
        route: str | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        raw = json.dumps(body) if body is not None else None
        event = api_event(method, path, raw, user, route=route, params=params)
        return aws.invoke("DevicesApiFunction", event)  # type: ignore[no-any-return]

    device = {
        "token": "fcm:abcdefghijkl",
        "platform": "ios",
        "timezone": "Europe/Amsterdam",
        "locale": "nl-NL",
        "app_version": "4.2.0",
    }
    route = "PUT /v1/devices/{device_id}"
    put = call("PUT", "/v1/devices/iphone-1", device, route=route, params={"device_id": "iphone-1"})
    assert put["statusCode"] == 200, put
    assert json.loads(put["body"])["token_tail"] == "ghijkl"
    bad = call(
        "PUT",
        "/v1/devices/iphone-1",
        {**device, "timezone": "Europe/Atlantis"},
        route=route,
        params={"device_id": "iphone-1"},
    )
    assert bad["statusCode"] == 400 and "timezone" in json.loads(bad["body"])["message"]
    moved = call(
        "PUT", "/v1/devices/bobs", device, user="bob", route=route, params={"device_id": "bobs"}
    )
    assert moved["statusCode"] == 200
    listed = json.loads(call("GET", "/v1/me/devices")["body"])
    assert listed == {"devices": []}  # the token now belongs to bob's install

    prefs = call("PUT", "/v1/me/preferences", {"categories": {"marketing": True}})
    assert prefs["statusCode"] == 200
    assert json.loads(call("GET", "/v1/me/preferences")["body"])["categories"]["marketing"] is True
    assert call("PUT", "/v1/me/preferences", {"categories": {"spam": True}})["statusCode"] == 400

    export = json.loads(aws.invoke("DevicesApiFunction", api_event("GET", "/v1/me"))["body"])
    assert export["preferences"]["categories"] == {"marketing": True}
    assert [r["category"] for r in export["history"] if r["type"] == "consent"] == ["marketing"]
    gone = call(
        "DELETE",
        "/v1/devices/bobs",
        user="bob",
        route="DELETE /v1/devices/{device_id}",
        params={"device_id": "bobs"},
    )
    assert gone["statusCode"] == 204
    erased = json.loads(aws.invoke("DevicesApiFunction", api_event("DELETE", "/v1/me"))["body"])
    assert erased["device_records_erased"] == 1  # the preferences item


def test_push_sender_suppresses_without_devices_and_fails_poison_alone(aws: Aws) -> None:
    event = sample_event("push_sender/sqs_batch.json")
    result = aws.invoke("PushSenderFunction", event)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    from nudge import runtime

    (delivery,) = runtime.push_service().log.for_user("user-42")
    assert (delivery.outcome, delivery.reason) == ("suppressed", "no_device")


def test_push_sender_returns_a_batch_that_wholly_waits_without_raising(aws: Aws) -> None:
    """Every record deferred (quiet hours) or failed is reported, not raised: a raise would
    count as a function error and page the on-call engineer for normal deferrals."""
    event = sample_event("push_sender/sqs_batch.json")
    event["Records"] = event["Records"][1:]
    result = aws.invoke("PushSenderFunction", event)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_admin_message_is_queued_for_push_sender(aws: Aws) -> None:
    body = json.dumps(
        {
            "template": {
                "id": "hello",
                "category": "internal",
                "text": {"en": {"title": "Hi {{ name }}", "body": "Team lunch at noon"}},
            },
            "data": {"name": "Ann"},
            "dedupe_key": "lunch-2026-03-02",
        }
    )
    event = api_event(
        "POST",
        "/admin/v1/users/ann/messages",
        body,
        route="POST /admin/v1/users/{user_id}/messages",
        params={"user_id": "ann"},
    )
    response = aws.invoke("AdminApiFunction", event)
    assert response["statusCode"] == 202, response
    (message,) = aws.receive_all("PushesQueue")
    job = json.loads(message["Body"])
    assert job["user_id"] == "ann" and job["dedupe_key"] == "lunch-2026-03-02"
    bad = api_event(
        "POST",
        "/admin/v1/users/ann/messages",
        json.dumps({"dedupe_key": "x"}),
        route="POST /admin/v1/users/{user_id}/messages",
        params={"user_id": "ann"},
    )
    assert aws.invoke("AdminApiFunction", bad)["statusCode"] == 400
