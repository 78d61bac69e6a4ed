"""Pinpoint's PutEvents mapped onto Nudge events and devices (domain/migration/pinpoint_events)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from nudge.domain.config import EngagementConfig
from nudge.domain.migration.pinpoint_events import (
    EventRef,
    RequestRefused,
    events_response,
    map_event,
    map_request,
    record_ingest,
)
from nudge.models.events import IngestResult, Rejection
from tests.unit.test_cold_imports import PROBE, ROOT

CONFIG = EngagementConfig()
AT = "2026-03-02T08:59:00.000Z"


def pinpoint_event(event_type: str, **fields: Any) -> dict[str, Any]:
    return {"EventType": event_type, "Timestamp": AT, **fields}


def gcm_endpoint(**fields: Any) -> dict[str, Any]:
    return {
        "ChannelType": "GCM",
        "Address": "fcm-token-abcdefgh",
        "OptOut": "NONE",
        "Demographic": {"Platform": "Android", "Locale": "nl_NL", "Timezone": "Europe/Amsterdam",
                        "AppVersion": "4.2.0"},
        "User": {"UserId": "ann"},
        **fields,
    }  # fmt: skip


def request(events: dict[str, Any], endpoint: dict[str, Any] | None = None, eid: str = "ep-1"):
    item: dict[str, Any] = {"Events": events}
    if endpoint is not None:
        item["Endpoint"] = endpoint
    return {"BatchItem": {eid: item}}


@pytest.mark.parametrize(
    ("event_type", "name"),
    [
        ("_session.start", "session_start"),
        ("_session.stop", "session_end"),
        ("_session.pause", "session_pause"),
        ("_session.resume", "session_resume"),
        ("_userauth.sign_up", "signup_completed"),
        ("_userauth.sign_in", "sign_in"),
        ("_userauth.auth_fail", "sign_in_failed"),
        ("_campaign.opened_notification", "push_opened"),
        ("_email.open", "email.open"),  # other reserved types: the name without the underscore
    ],
)
def test_reserved_types_become_nudges_events(event_type: str, name: str) -> None:
    event = map_event("e1", pinpoint_event(event_type), CONFIG)
    assert event.name == name and event.event_id == "e1"
    assert event.timestamp.isoformat() == "2026-03-02T08:59:00+00:00"


def test_a_purchase_is_worth_price_times_quantity_in_its_currency() -> None:
    raw = pinpoint_event(
        "_monetization.purchase",
        Attributes={"_product_id": "ticket-day", "_currency": "EUR", "_store": "play",
                    "_transaction_id": "T-9"},
        Metrics={"_item_price": 2.5, "_quantity": 3},
    )  # fmt: skip
    event = map_event("p1", raw, CONFIG)
    assert event.name == "purchase"  # one of config.purchase_events: it counts as revenue
    assert event.properties == {
        "amount": 7.5,  # config.purchase_amount_property
        "currency": "EUR",
        "product_id": "ticket-day",
        "store": "play",
        "transaction_id": "T-9",
        "item_price": 2.5,
        "quantity": 3,
    }


def test_a_purchase_without_quantity_is_one_and_without_price_is_refused() -> None:
    one = map_event(
        "p1", pinpoint_event("_monetization.purchase", Metrics={"_item_price": 4}), CONFIG
    )
    assert one.properties["amount"] == 4 and one.properties["quantity"] == 1
    with pytest.raises(ValueError, match=r"Metrics\._item_price: required"):
        map_event("p2", pinpoint_event("_monetization.purchase"), CONFIG)


def test_an_opened_notification_names_the_nudge_job_it_opened() -> None:
    raw = pinpoint_event(
        "_campaign.opened_notification", Attributes={"job_id": "job-7", "campaign_id": "c1"}
    )
    event = map_event("o1", raw, CONFIG)
    assert event.properties == {"message_id": "job-7", "campaign_id": "c1"}


def test_custom_events_keep_name_attributes_metrics_and_session() -> None:
    raw = pinpoint_event(
        "trip_planned",
        Attributes={"from": "Utrecht", "to": "Amsterdam"},
        Metrics={"legs": 2, "minutes": 27.5},
        Session={"Id": "s-1", "StartTimestamp": "2026-03-02T08:50:00Z", "Duration": 540000},
        AppPackageName="nl.example.app",
        SomethingNew={"x": 1},  # extra keys are ignored, as Pinpoint's clients vary
    )
    event = map_event("c1", raw, CONFIG)
    assert event.name == "trip_planned"
    assert event.properties == {
        "from": "Utrecht",
        "to": "Amsterdam",
        "legs": 2,
        "minutes": 27.5,
        "session_id": "s-1",
        "session_start_at": "2026-03-02T08:50:00Z",
        "session_duration_ms": 540000,
    }


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not an object", "event: must be an object"),
        ({"Timestamp": AT}, "EventType: required"),
        ({"EventType": "x"}, "Timestamp: "),
        (pinpoint_event("x", Timestamp="2026-03-02T08:00:00"), "Timestamp: "),  # no offset
        (pinpoint_event("Add to cart"), "EventType: 'Add to cart' is not a Nudge event name"),
        (pinpoint_event("x", Attributes={"a": {"b": 1}}), "Attributes.a: must be a string"),
        (pinpoint_event("x", Metrics={"m": "9"}), "Metrics.m: must be a number"),
        (pinpoint_event("x", Metrics={"m": float("inf")}), "Metrics.m: must be a finite number"),
        (pinpoint_event("x", Attributes={"k": "v"}, Metrics={"k": 1}), "Attributes.k: also in"),
        (pinpoint_event("x", Attributes={"bad key": "v"}), "Attributes/Metrics.bad key"),
        (pinpoint_event("x", Session="s-1"), "Session: must be an object"),
    ],
)
def test_bad_events_are_refused_naming_the_pinpoint_field(raw: Any, message: str) -> None:
    with pytest.raises(ValueError, match="^" + message.replace(".", r"\.").replace("(", r"\(")):
        map_event("e1", raw, CONFIG)


def test_event_ids_nudge_cannot_take_get_a_stable_derived_id() -> None:
    first = map_event("id with spaces/and slashes", pinpoint_event("x"), CONFIG)
    again = map_event("id with spaces/and slashes", pinpoint_event("x"), CONFIG)
    assert first.event_id == again.event_id and first.event_id.startswith("pinpoint.")


def test_over_100_events_refuse_the_request_naming_batch_item() -> None:
    events = {f"e{i}": pinpoint_event("x") for i in range(60)}
    body = {"BatchItem": {"a": {"Events": events}, "b": {"Events": dict(events)}}}
    with pytest.raises(RequestRefused, match=r"^BatchItem: 120 events; at most 100"):
        map_request(body, "ann", CONFIG)
    bad: Any
    for bad in ({}, {"BatchItem": {}}, {"BatchItem": []}, []):
        with pytest.raises(RequestRefused, match=r"^BatchItem: "):
            map_request(bad, "ann", CONFIG)


def test_the_jwt_subject_is_the_user_whatever_the_body_says() -> None:
    mapped = map_request(request({"e1": pinpoint_event("x")}, gcm_endpoint()), "sub-1", CONFIG)
    assert list(mapped.events) == ["sub-1"]
    assert mapped.devices["ep-1"].user_id == "sub-1"


def test_a_backend_names_the_user_or_gets_the_endpoints_anonymous_user() -> None:
    named = map_request(request({"e1": pinpoint_event("x")}, gcm_endpoint()), None, CONFIG)
    assert list(named.events) == ["ann"]
    anonymous = request({"e1": pinpoint_event("x")}, gcm_endpoint(User={}), eid="ep-9")
    assert list(map_request(anonymous, None, CONFIG).events) == ["pinpoint:ep-9"]
    no_endpoint = map_request(request({"e1": pinpoint_event("x")}, eid="ep-8"), None, CONFIG)
    assert list(no_endpoint.events) == ["pinpoint:ep-8"]


def test_a_user_id_that_cannot_be_one_refuses_that_endpoints_events_only() -> None:
    body = request({"e1": pinpoint_event("x")}, gcm_endpoint(User={"UserId": "#system"}), "bad")
    body["BatchItem"]["good"] = {"Events": {"e2": pinpoint_event("x")}}
    mapped = map_request(body, None, CONFIG)
    answer = events_response(mapped)["EventsResponse"]["Results"]
    assert answer["bad"]["EndpointItemResponse"]["StatusCode"] == 400
    assert answer["bad"]["EventsItemResponse"]["e1"] == {
        "StatusCode": 400,
        "Message": "Endpoint.User.UserId: '#' starts reserved keys, not user ids",
    }
    assert answer["good"]["EventsItemResponse"]["e2"]["StatusCode"] == 202
    assert list(mapped.events) == ["pinpoint:good"]


def test_a_gcm_endpoint_becomes_a_device_registration() -> None:
    mapped = map_request(request({}, gcm_endpoint(OptOut="ALL")), "ann", CONFIG)
    plan = mapped.devices["ep-1"]
    assert plan.device_id == "ep-1"
    assert plan.registration.model_dump() == {
        "token": "fcm-token-abcdefgh",
        "platform": "android",
        "app_version": "4.2.0",
        "locale": "nl_NL",
        "timezone": "Europe/Amsterdam",
        "push_enabled": False,  # OptOut ALL: Amplify's "notifications are off"
    }


def test_a_bad_optional_fact_is_left_out_and_said_a_bad_token_refuses_the_device() -> None:
    endpoint = gcm_endpoint(Demographic={"Timezone": "+01:00", "Platform": "iOS"})
    mapped = map_request(request({}, endpoint), "ann", CONFIG)
    assert mapped.devices["ep-1"].registration.timezone is None
    assert mapped.devices["ep-1"].registration.platform == "ios"
    message = mapped.endpoints["ep-1"].message
    assert "Endpoint.Demographic.Timezone ignored" in message
    refused = map_request(request({}, gcm_endpoint(Address="short")), "ann", CONFIG)
    assert not refused.devices
    assert refused.endpoints["ep-1"].status == 400
    assert refused.endpoints["ep-1"].message.startswith("Endpoint.Address: ")


@pytest.mark.parametrize("channel", ["APNS", "APNS_SANDBOX", "APNS_VOIP"])
def test_apns_endpoints_are_answered_re_register_and_their_events_still_count(
    channel: str,
) -> None:
    endpoint = gcm_endpoint(ChannelType=channel, Address="a" * 64)
    mapped = map_request(request({"e1": pinpoint_event("x")}, endpoint), "ann", CONFIG)
    assert not mapped.devices
    answer = mapped.endpoints["ep-1"]
    assert answer.status == 400 and "PUT /v1/devices/{device_id}" in answer.message
    assert [ref for ref, _ in mapped.events["ann"]] == [EventRef("ep-1", "e1")]


def test_other_channels_are_not_devices_and_an_endpoint_without_one_changes_nothing() -> None:
    email = map_request(request({}, {"ChannelType": "EMAIL", "Address": "a@b.c"}), "ann", CONFIG)
    assert email.endpoints["ep-1"].status == 400 and "GCM" in email.endpoints["ep-1"].message
    bare = map_request(request({}, {"Demographic": {"Locale": "en_US"}}), "ann", CONFIG)
    assert not bare.devices and bare.endpoints["ep-1"].status == 202


@pytest.mark.parametrize("channel", [[], ["GCM"], {"a": 1}, 7, True])
def test_a_channel_type_that_is_no_string_is_a_400_for_that_endpoint(channel: object) -> None:
    """Found by the API fuzzer: a list here was a 500 (unhashable), not an answer."""
    mapped = map_request(request({}, {"ChannelType": channel, "Address": "x"}), "ann", CONFIG)
    answer = mapped.endpoints["ep-1"]
    assert not mapped.devices and answer.status == 400 and "ChannelType" in answer.message


def test_good_events_stay_beside_bad_ones_and_ingest_rejections_are_answered() -> None:
    events = {
        "good": pinpoint_event("_session.start"),
        "bad": pinpoint_event("x", Timestamp="yesterday"),
        "late": pinpoint_event("x"),
    }
    mapped = map_request(request(events), "ann", CONFIG)
    assert [ref.event_id for ref, _ in mapped.events["ann"]] == ["good", "late"]
    # the ingest refuses the second of the two it was given (index 1), e.g. too old
    result = IngestResult(
        accepted=1, rejected=[Rejection(index=1, error="timestamp: older than 30 days")]
    )
    record_ingest(mapped, "ann", result)
    answers = events_response(mapped)["EventsResponse"]["Results"]["ep-1"]["EventsItemResponse"]
    assert answers["good"] == {"StatusCode": 202, "Message": "Accepted"}
    assert answers["bad"]["StatusCode"] == 400 and answers["bad"]["Message"].startswith(
        "Timestamp: "
    )
    assert answers["late"] == {"StatusCode": 400, "Message": "Timestamp: older than 30 days"}


def test_an_item_that_is_not_an_object_is_answered_not_raised() -> None:
    mapped = map_request({"BatchItem": {"x": 5, "y": {"Events": []}}}, "ann", CONFIG)
    answers = events_response(mapped)["EventsResponse"]["Results"]
    assert answers["x"]["EndpointItemResponse"]["StatusCode"] == 400
    assert answers["y"]["EndpointItemResponse"]["Message"].startswith("Events: must be an object")


def test_the_events_functions_cold_start_loads_neither_the_mapping_nor_the_doc_models() -> None:
    """events_api imports the PutEvents routes; what they need comes on the first request."""
    lazy = (
        "nudge.domain.migration.pinpoint_events",
        "nudge.api.pinpoint_models",
        "nudge.api.audit",
    )
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    app = ROOT / "functions" / "events_api" / "app.py"
    out = subprocess.run(
        [sys.executable, "-c", PROBE % (lazy,), str(app)],
        capture_output=True, text=True, env=env, cwd=ROOT, check=True, timeout=120,
    )  # fmt: skip
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"fn_events_api": []}
