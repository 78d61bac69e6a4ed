"""Pinpoint's PutEvents through the real events_api handler, IAM enforced from template.yaml:
apps (JWT) and backends (IAM), events reaching EventsQueue as Nudge's QueuedBatch, devices."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from nudge import runtime
from nudge.api.audit import AUDIT_SERVICE
from nudge.api.pinpoint_models import PutEventsResponse
from nudge.domain.profiles.aggregates import ATTRIBUTES_EVENT
from nudge.models.events import IncomingEvent, QueuedBatch
from nudge_local.template import read_stack
from tests.integration.conftest import Aws
from tests.integration.test_handlers import api_event, deliver

pytestmark = pytest.mark.integration

APP_ROUTE = "POST /v1/apps/{app_id}/events"
BACKEND_ROUTE = "POST /admin/v1/apps/{app_id}/events"


def put_events(aws: Aws, body: Any, caller: str = "app", user: str = "ann") -> dict[str, Any]:
    prefix = "/v1" if caller == "app" else "/admin/v1"
    route = APP_ROUTE if caller == "app" else BACKEND_ROUTE
    raw = body if isinstance(body, str) else json.dumps(body)
    event = api_event(
        "POST", f"{prefix}/apps/pp-app-1/events", raw, user, route=route,
        params={"app_id": "pp-app-1"},
    )  # fmt: skip
    return aws.invoke("EventsApiFunction", event)  # type: ignore[no-any-return]


def at(aws: Aws, minutes_ago: int = 1) -> str:
    return (aws.clock.now() - timedelta(minutes=minutes_ago)).isoformat()


def gcm(user_id: str | None = None, token: str = "fcm-token-0001") -> dict[str, Any]:  # noqa: S107
    endpoint: dict[str, Any] = {
        "ChannelType": "GCM",
        "Address": token,
        "Demographic": {"Platform": "android", "Locale": "nl_NL", "Timezone": "Europe/Amsterdam"},
    }
    if user_id is not None:
        endpoint["User"] = {"UserId": user_id}
    return endpoint


def queued(aws: Aws) -> dict[str, list[IncomingEvent]]:
    """user -> the events queued for them (QueuedBatch messages, as the processor reads them);
    the device's facts (user_attributes, queued by the device registration) left out."""
    found: dict[str, list[IncomingEvent]] = {}
    for message in aws.receive_all("EventsQueue"):
        batch = QueuedBatch.model_validate_json(message["Body"])
        events = [e for e in batch.events if e.name != ATTRIBUTES_EVENT]
        found.setdefault(batch.user_id, []).extend(events)
    return {user: events for user, events in found.items() if events}


def results(answer: dict[str, Any]) -> dict[str, Any]:
    assert answer["statusCode"] == 202, answer
    return json.loads(answer["body"])["EventsResponse"]["Results"]  # type: ignore[no-any-return]


def test_the_routes_are_declared_with_one_authorizer_each() -> None:
    routes = {f"{r.method} {r.path}": r for r in read_stack().routes}
    assert routes[APP_ROUTE].auth == "jwt" and routes[APP_ROUTE].function == "EventsApiFunction"
    assert routes[BACKEND_ROUTE].auth == "iam"
    assert routes[BACKEND_ROUTE].function == "EventsApiFunction"


def test_an_apps_events_are_the_token_subjects_whatever_the_body_says(aws: Aws) -> None:
    body = {
        "BatchItem": {
            "ep-1": {
                "Endpoint": gcm(user_id="mallory"),
                "Events": {
                    "s1": {"EventType": "_session.start", "Timestamp": at(aws, 5),
                           "Session": {"Id": "sess-1", "StartTimestamp": at(aws, 5)}},
                    "p1": {"EventType": "_monetization.purchase", "Timestamp": at(aws),
                           "Attributes": {"_product_id": "day-ticket", "_currency": "EUR"},
                           "Metrics": {"_item_price": 2.5, "_quantity": 3}},
                    "bad": {"EventType": "trip planned", "Timestamp": at(aws)},
                },
            }
        }
    }  # fmt: skip
    answer = results(put_events(aws, body))["ep-1"]
    assert answer["EndpointItemResponse"] == {"StatusCode": 202, "Message": "Accepted: device ep-1"}
    assert answer["EventsItemResponse"]["s1"] == {"StatusCode": 202, "Message": "Accepted"}
    assert answer["EventsItemResponse"]["p1"]["StatusCode"] == 202
    assert answer["EventsItemResponse"]["bad"]["StatusCode"] == 400
    assert "EventType: 'trip planned'" in answer["EventsItemResponse"]["bad"]["Message"]

    batches = queued(aws)
    assert list(batches) == ["ann"]  # the JWT's sub, never the body's UserId
    by_id = {event.event_id: event for event in batches["ann"]}
    assert by_id["s1"].name == "session_start" and by_id["s1"].properties["session_id"] == "sess-1"
    assert by_id["p1"].name == "purchase" and by_id["p1"].properties["amount"] == 7.5
    assert by_id["p1"].properties["currency"] == "EUR"
    # the endpoint is the install's device, registered as PUT /v1/devices/{id} does
    (device,) = runtime.device_store().devices("ann")
    assert (device.device_id, device.token, device.locale) == ("ep-1", "fcm-token-0001", "nl_NL")
    assert runtime.device_store().devices("mallory") == []


def test_the_queued_events_are_nudges_own_the_processor_applies_them_once(aws: Aws) -> None:
    purchase = {"EventType": "_monetization.purchase", "Timestamp": at(aws),
                "Metrics": {"_item_price": 2.5, "_quantity": 3}}  # fmt: skip
    body = {"BatchItem": {"ep-1": {"Endpoint": gcm(), "Events": {"p1": purchase}}}}
    results(put_events(aws, body))
    results(put_events(aws, body))  # the app's retry of the same request is harmless
    assert deliver(aws)["batchItemFailures"] == []
    profile = runtime.profile_store().get("ann")
    assert profile is not None and profile.purchases.total == 7.5  # once, not twice
    assert profile.attributes["timezone"].value == "Europe/Amsterdam"  # the device's facts


@pytest.fixture
def audit_log() -> Iterator[io.StringIO]:
    """What the audit logger writes (its handlers pointed at a buffer for the test)."""
    stream = io.StringIO()
    logger = logging.getLogger(AUDIT_SERVICE)
    handlers = [h for h in logger.handlers if isinstance(h, logging.StreamHandler)]
    previous = [h.setStream(stream) for h in handlers]
    try:
        yield stream
    finally:
        for handler, old in zip(handlers, previous, strict=True):
            handler.setStream(old)


def test_a_backend_names_each_endpoints_user_or_gets_its_anonymous_user(
    aws: Aws, audit_log: io.StringIO
) -> None:
    body = {
        "BatchItem": {
            "ep-bob": {"Endpoint": gcm(user_id="bob", token="fcm-token-bob1"),
                       "Events": {"e1": {"EventType": "_userauth.sign_up", "Timestamp": at(aws)}}},
            "ep-anon": {"Endpoint": gcm(token="fcm-token-anon"),
                        "Events": {"e2": {"EventType": "level_up", "Timestamp": at(aws),
                                          "Attributes": {"world": "3"}, "Metrics": {"level": 7}}}},
            "ep-ios": {"Endpoint": {"ChannelType": "APNS", "Address": "ab" * 32,
                                    "User": {"UserId": "cy"}},
                       "Events": {"e3": {"EventType": "_campaign.opened_notification",
                                         "Timestamp": at(aws),
                                         "Attributes": {"message_id": "job-1"}}}},
        }
    }  # fmt: skip
    answer = put_events(aws, body, caller="backend")
    answers = results(answer)
    PutEventsResponse.model_validate_json(answer["body"])  # the documented answer, exactly
    audit = [json.loads(line) for line in audit_log.getvalue().splitlines() if line.strip()]
    assert [line["audit"]["route"] for line in audit] == [BACKEND_ROUTE]  # like any admin call
    assert answers["ep-ios"]["EndpointItemResponse"]["StatusCode"] == 400
    assert "PUT /v1/devices/" in answers["ep-ios"]["EndpointItemResponse"]["Message"]
    assert all(
        event["StatusCode"] == 202
        for item in answers.values()
        for event in item["EventsItemResponse"].values()
    ), answers

    batches = queued(aws)
    assert sorted(batches) == ["bob", "cy", "pinpoint:ep-anon"]
    assert [e.name for e in batches["bob"]] == ["signup_completed"]
    (level,) = batches["pinpoint:ep-anon"]
    assert (level.name, level.properties) == ("level_up", {"world": "3", "level": 7})
    (opened,) = batches["cy"]
    assert (opened.name, opened.properties) == ("push_opened", {"message_id": "job-1"})
    assert [d.device_id for d in runtime.device_store().devices("bob")] == ["ep-bob"]
    assert [d.device_id for d in runtime.device_store().devices("pinpoint:ep-anon")] == ["ep-anon"]
    assert runtime.device_store().devices("cy") == []  # an APNs token is no FCM device


def test_the_backend_route_takes_iam_callers_only(aws: Aws) -> None:
    body = {"BatchItem": {"ep-1": {"Events": {"e1": {"EventType": "x", "Timestamp": at(aws)}}}}}
    event = api_event(
        "POST", "/admin/v1/apps/a/events", json.dumps(body), route=BACKEND_ROUTE,
        params={"app_id": "a"},
    )  # fmt: skip
    event["requestContext"]["authorizer"] = {"jwt": {"claims": {"sub": "ann"}, "scopes": None}}
    assert aws.invoke("EventsApiFunction", event)["statusCode"] == 403
    assert queued(aws) == {}


def test_an_unchanged_device_is_not_written_again_the_same_day(aws: Aws) -> None:
    body = {"BatchItem": {"ep-1": {"Endpoint": gcm(), "Events": {}}}}
    results(put_events(aws, body))
    (first,) = runtime.device_store().devices("ann")
    aws.clock.advance(timedelta(hours=3))
    results(put_events(aws, body))
    assert runtime.device_store().devices("ann")[0].updated_at == first.updated_at
    aws.clock.advance(timedelta(days=1))
    results(put_events(aws, body))  # a day on: refreshed, so the token never looks stale
    assert runtime.device_store().devices("ann")[0].updated_at > first.updated_at
    changed = {"BatchItem": {"ep-1": {"Endpoint": gcm(token="fcm-token-0002"), "Events": {}}}}
    results(put_events(aws, changed))  # a new token is written at once
    assert runtime.device_store().devices("ann")[0].token == "fcm-token-0002"


def test_an_endpoint_that_leaves_facts_out_keeps_the_stored_ones(aws: Aws) -> None:
    # Pinpoint updated what an endpoint named: a later batch with only the token (or with
    # OptOut absent) must not wipe the platform, zone, locale or permission Nudge holds
    full = gcm() | {"OptOut": "ALL"}
    full["Demographic"] = {**full["Demographic"], "Platform": "ios", "AppVersion": "5.2.0"}
    results(put_events(aws, {"BatchItem": {"ep-1": {"Endpoint": full, "Events": {}}}}))
    aws.clock.advance(timedelta(days=2))  # past the daily refresh: the device is written again
    sparse = {"ChannelType": "GCM", "Address": "fcm-token-0002"}
    answer = results(put_events(aws, {"BatchItem": {"ep-1": {"Endpoint": sparse, "Events": {}}}}))
    assert answer["ep-1"]["EndpointItemResponse"]["StatusCode"] == 202
    (device,) = runtime.device_store().devices("ann")
    assert device.token == "fcm-token-0002"
    kept = ("platform", "app_version", "locale", "timezone", "push_enabled")
    assert device.model_dump(include=set(kept)) == {
        "platform": "ios",
        "app_version": "5.2.0",
        "locale": "nl_NL",
        "timezone": "Europe/Amsterdam",
        "push_enabled": False,
    }


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (
            {"BatchItem": {f"ep-{n}": {"Events": {f"e{i}": {"EventType": "x"} for i in range(51)}}
                           for n in range(2)}},
            "BatchItem: 102 events; at most 100",
        ),
        ({"BatchItem": {}}, "BatchItem"),
        ({}, "BatchItem"),
        ({"BatchItem": {"ep": {}}, "Extra": 1}, "Extra"),
        ("{not json", "not valid JSON"),
    ],
)  # fmt: skip
def test_whole_request_problems_are_a_400_naming_the_field(
    aws: Aws, body: Any, fragment: str
) -> None:
    for caller in ("app", "backend"):
        answer = put_events(aws, body, caller=caller)
        assert answer["statusCode"] == 400, answer
        assert fragment in json.loads(answer["body"])["message"]
    assert queued(aws) == {}
