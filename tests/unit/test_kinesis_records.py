"""Amplify's Kinesis path: records read as Nudge events, each record failing on its own."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from nudge.clock import ManualClock
from nudge.domain.config import EngagementConfig
from nudge.domain.migration.kinesis_records import (
    RecordRefused,
    derived_event_id,
    read_record,
)
from nudge.domain.migration.pinpoint_events import map_event
from nudge.services.migration.kinesis_ingest import KinesisIngest, StreamRecord
from nudge.services.profiles.ingest import IngestService
from tests.fakes.memory import InMemoryPublisher

CONFIG = EngagementConfig()
AT = "2026-03-02T08:59:00Z"
SHARD = "shardId-000000000000"


def b64(body: Any) -> str:
    text = body if isinstance(body, str) else json.dumps(body)
    return base64.b64encode(text.encode()).decode()


def record(sequence: int, body: Any) -> StreamRecord:
    seq = f"4959{sequence:052d}"
    return StreamRecord(seq, f"{SHARD}:{seq}", b64(body))


def nudge_event(event_id: str | None = "e1", name: str = "screen_view") -> dict[str, Any]:
    event: dict[str, Any] = {"name": name, "timestamp": AT, "properties": {"screen": "home"}}
    if event_id is not None:
        event["event_id"] = event_id
    return event


def test_nudge_batch_shape_keeps_ids_and_derives_the_missing_ones() -> None:
    body = {"user_id": "ann", "events": [nudge_event("e1"), nudge_event(None)]}
    read = read_record(f"{SHARD}:123", b64(body), CONFIG)
    assert read.user_id == "ann"
    assert [e["event_id"] for e in read.events] == ["e1", f"kinesis:{SHARD}:123:1"]


def test_a_single_nudge_event_with_its_user() -> None:
    read = read_record(f"{SHARD}:7", b64({"user_id": " ann ", **nudge_event(None)}), CONFIG)
    assert read.user_id == "ann"
    assert read.events == [{**nudge_event(None), "event_id": f"kinesis:{SHARD}:7:0"}]


@pytest.mark.parametrize("case", ["PascalCase", "camelCase"])
def test_a_pinpoint_event_maps_as_put_events_maps_it(case: str) -> None:
    pinpoint = {
        "EventType": "_monetization.purchase",
        "Timestamp": AT,
        "Attributes": {"_currency": "EUR", "_product_id": "day-ticket"},
        "Metrics": {"_item_price": 2.5, "_quantity": 2},
        "Session": {"Id": "s-1", "StartTimestamp": AT},
    }
    expected = map_event("buy-1", pinpoint, CONFIG).model_dump(mode="json", exclude_none=True)
    body: dict[str, Any] = {**pinpoint, "EventId": "buy-1", "Endpoint": {"User": {"UserId": "ann"}}}
    if case == "camelCase":
        body = {
            "eventType": pinpoint["EventType"],
            "timestamp": AT,
            "attributes": pinpoint["Attributes"],
            "metrics": pinpoint["Metrics"],
            "session": {"id": "s-1", "startTimestamp": AT},
            "eventId": "buy-1",
            "endpoint": {"user": {"userId": "ann"}},
        }
    read = read_record(f"{SHARD}:9", b64(body), CONFIG)
    assert read.user_id == "ann" and read.events == [expected]
    assert (
        expected["name"] == "purchase"
        and expected["properties"][CONFIG.purchase_amount_property] == 5.0
    )


def test_reserved_pinpoint_events_get_nudges_names_and_derived_ids() -> None:
    body = {"EventType": "_session.start", "Timestamp": AT, "Endpoint": {"User": {"UserId": "b"}}}
    (event,) = read_record(f"{SHARD}:5", b64(body), CONFIG).events
    assert event["name"] == CONFIG.session_event
    assert event["event_id"] == f"kinesis:{SHARD}:5:0"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("not base64!!", "kinesis.data: not base64"),
        ("", "kinesis.data: missing or empty"),
        (base64.b64encode(b"\xff\xfe").decode(), "data: not UTF-8"),
        (b64("{not json"), "data: not JSON"),
        (b64([1, 2]), "data: a JSON list"),
        (b64(None), "data: a JSON null"),
        (b64(3), "data: a JSON number"),
        (b64({"hello": 1}), "data: expected a Nudge event"),
        (b64({"events": [nudge_event()]}), "user_id: required"),
        (b64({"user_id": 7, "events": [nudge_event()]}), "user_id: must be a string"),
        (b64({"user_id": "#rate#x", **nudge_event()}), "user_id: '#' starts reserved keys"),
        (b64({"user_id": "ann", "events": []}), "events: must be a list of 1 to 100"),
        (b64({"user_id": "ann", "events": [nudge_event()] * 101}), "at most 100 per record"),
        (b64({"EventType": "_session.start", "Timestamp": AT}), "Endpoint.User.UserId: required"),
        (
            b64({"EventType": "1bad", "Timestamp": AT, "Endpoint": {"User": {"UserId": "a"}}}),
            "EventType: '1bad' is not a Nudge event name",
        ),
    ],
)
def test_unreadable_records_are_refused_naming_the_field(data: str, message: str) -> None:
    with pytest.raises(RecordRefused, match=message.replace("[", r"\[")):
        read_record(f"{SHARD}:1", data, CONFIG)


def test_derived_ids_are_stable_and_always_valid() -> None:
    assert derived_event_id("s:1", 0) == derived_event_id("s:1", 0) != derived_event_id("s:1", 1)
    long = derived_event_id("shardId-1:" + "9" * 200, 3)
    assert long.startswith("kinesis.") and len(long) <= 128


@pytest.fixture
def kinesis(clock: ManualClock) -> KinesisIngest:
    return KinesisIngest(IngestService(InMemoryPublisher(), CONFIG, clock), CONFIG)


def test_a_bad_record_fails_alone_and_the_rest_is_queued_per_user(kinesis: KinesisIngest) -> None:
    records = [
        record(1, {"user_id": "ann", **nudge_event("a1")}),
        record(2, "{broken json"),
        record(3, {"user_id": "ann", "events": [nudge_event("a2"), nudge_event("a3")]}),
        record(4, {"events": [nudge_event("x")]}),  # no user
        record(5, {"EventType": "_session.start", "Timestamp": AT,
                   "Endpoint": {"User": {"UserId": "bob"}}}),
        record(6, "@@not-base64@@"),
    ]  # fmt: skip
    records[-1] = StreamRecord(records[-1].sequence_number, records[-1].record_id, "@@")
    outcome = kinesis.process(records)
    assert set(outcome.failures) == {records[i].sequence_number for i in (1, 3, 5)}
    assert outcome.failures[records[3].sequence_number].startswith("user_id: required")
    assert outcome.accepted == 4
    sent = kinesis.ingest.publisher.sent
    # one queue message per user for the whole batch, in stream order
    assert {b.user_id: [e.event_id for e in b.events] for b in sent} == {
        "ann": ["a1", "a2", "a3"],
        "bob": [f"kinesis:{records[4].record_id}:0"],
    }


def test_an_invalid_event_fails_its_record_and_names_the_event(kinesis: KinesisIngest) -> None:
    bad = {**nudge_event("a2"), "timestamp": "yesterday"}
    records = [
        record(1, {"user_id": "ann", "events": [nudge_event("a1"), bad]}),
        record(2, {"user_id": "ann", **nudge_event("a3")}),
    ]
    outcome = kinesis.process(records)
    (why,) = outcome.failures.values()
    assert list(outcome.failures) == [records[0].sequence_number]
    assert why.startswith("events[1]: timestamp:")
    assert outcome.accepted == 2  # the valid rest of the record and of the batch is queued


def test_the_same_event_put_twice_is_queued_once_and_fails_nothing(
    kinesis: KinesisIngest,
) -> None:
    records = [record(1, {"user_id": "ann", **nudge_event("a1")})] * 2
    outcome = kinesis.process(records)
    assert outcome.failures == {} and outcome.accepted == 1 and outcome.duplicates == 1


def test_a_refused_queue_fails_those_records_for_a_retry(kinesis: KinesisIngest) -> None:
    kinesis.ingest.publisher.fail_indexes = {0}
    records = [record(1, {"user_id": "ann", **nudge_event("a1")})]
    outcome = kinesis.process(records)
    assert list(outcome.failures) == [records[0].sequence_number]
    assert "unavailable" in outcome.failures[records[0].sequence_number]


def test_more_than_a_queue_message_of_events_per_user_is_split(kinesis: KinesisIngest) -> None:
    records = [
        record(i, {"user_id": "ann", "events": [nudge_event(f"e{i}-{j}") for j in range(60)]})
        for i in range(3)
    ]
    outcome = kinesis.process(records)
    sent = kinesis.ingest.publisher.sent
    assert outcome.failures == {} and outcome.accepted == 180
    assert [len(b.events) for b in sent] == [100, 80]
