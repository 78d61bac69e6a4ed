"""Per-event validation: bad events are refused by index and field, the rest go through."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from nudge.domain.config import EngagementConfig
from nudge.domain.profiles.ingest import validate_events
from nudge.models.events import EventBatch
from tests.conftest import START

NOW = START


def ok(**overrides: Any) -> dict[str, Any]:
    event = {"event_id": "e-1", "name": "session_start", "timestamp": NOW.isoformat()}
    event.update(overrides)
    return event


def check(raw: list[Any], config: EngagementConfig | None = None):  # type: ignore[no-untyped-def]
    return validate_events(raw, NOW, config or EngagementConfig())


def test_valid_event_passes_with_its_index() -> None:
    result = check([ok()])
    assert [(i, e.event_id) for i, e in result.valid] == [(0, "e-1")]
    assert result.rejected == []


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (ok(event_id=""), "event_id"),
        (ok(event_id="x" * 129), "event_id"),
        (ok(event_id="has space"), "event_id"),
        (ok(event_id=42), "event_id"),
        (ok(name=""), "name"),
        (ok(name="9starts_with_digit"), "name"),
        (ok(name="x" * 65), "name"),
        (ok(name=None), "name"),
        (ok(timestamp="yesterday"), "timestamp"),
        (ok(timestamp="2026-03-02T09:00:00"), "timestamp"),  # no offset
        (ok(timestamp=None), "timestamp"),
        (ok(properties=[1, 2]), "properties"),
        (ok(properties={"k": {"nested": 1}}), "properties"),
        (ok(properties={"k": "x" * 1025}), "properties"),
        (ok(properties={f"k{i}": i for i in range(51)}), "properties"),
        (ok(properties={"bad key!": 1}), "properties"),
        (ok(location={"lat": 91, "lng": 0}), "location.lat"),
        (ok(location={"lat": 0, "lng": -181}), "location.lng"),
        (ok(location={"lat": 0, "lng": 0, "accuracy_m": -1}), "location.accuracy_m"),
        (ok(location={"lat": 0, "lng": 0, "accuracy_m": 1e9}), "location.accuracy_m"),
        (ok(location={"lat": "north", "lng": 0}), "location.lat"),
        (ok(unknown_field=1), "unknown_field"),
        (ok(user_id="someone-else"), "user_id"),  # the user is the JWT subject, never the body
    ],
)
def test_invalid_event_is_rejected_naming_the_field(event: dict[str, Any], field: str) -> None:
    result = check([ok(event_id="good"), event])
    assert [i for i, _ in result.valid] == [0]
    assert len(result.rejected) == 1
    rejection = result.rejected[0]
    assert rejection.index == 1
    assert (
        rejection.error.startswith(field)
        or f"{field}." in rejection.error
        or field in rejection.error
    )


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_rejected(value: float) -> None:
    result = check([ok(properties={"amount": value})])
    assert result.valid == []
    assert "amount" in result.rejected[0].error or "properties" in result.rejected[0].error


def test_non_object_items_are_rejected_alone() -> None:
    result = check([ok(), "a string", 7, None, ["list"]])
    assert [i for i, _ in result.valid] == [0]
    assert [r.index for r in result.rejected] == [1, 2, 3, 4]
    assert all(r.error == "event must be a JSON object" for r in result.rejected)


def test_future_timestamp_beyond_skew_is_rejected() -> None:
    config = EngagementConfig(max_clock_skew_minutes=10)
    result = check(
        [
            ok(event_id="a", timestamp=(NOW + timedelta(minutes=9)).isoformat()),
            ok(event_id="b", timestamp=(NOW + timedelta(minutes=11)).isoformat()),
        ],
        config,
    )
    assert [e.event_id for _, e in result.valid] == ["a"]
    assert "future" in result.rejected[0].error
    assert result.rejected[0].event_id == "b"


def test_too_old_timestamp_is_rejected() -> None:
    config = EngagementConfig(max_event_age_days=30)
    result = check(
        [
            ok(event_id="a", timestamp=(NOW - timedelta(days=29)).isoformat()),
            ok(event_id="b", timestamp=(NOW - timedelta(days=31)).isoformat()),
        ],
        config,
    )
    assert [e.event_id for _, e in result.valid] == ["a"]
    assert "older than 30 days" in result.rejected[0].error


def test_duplicate_id_within_one_request_is_rejected() -> None:
    result = check([ok(event_id="same"), ok(event_id="same")])
    assert len(result.valid) == 1
    assert result.rejected[0].index == 1
    assert "duplicate of events[0]" in result.rejected[0].error


def test_timestamps_with_offsets_are_normalised() -> None:
    result = check([ok(timestamp="2026-03-02T10:00:00+01:00")])
    ((_, event),) = result.valid
    assert event.timestamp == NOW


def test_error_message_does_not_echo_input() -> None:
    secret = "token abcdef should not be echoed!"
    result = check([ok(name=secret)])
    assert secret not in result.rejected[0].error


def test_unicode_is_accepted_in_properties() -> None:
    result = check([ok(properties={"station": "Zürich HB 🚆", "tags": ["a", "b"]})])
    assert result.valid[0][1].properties["station"] == "Zürich HB 🚆"


def test_mixed_batch_keeps_every_valid_event() -> None:
    raw = [ok(event_id=f"e{i}") if i % 3 else {"bad": i} for i in range(30)]
    result = check(raw)
    assert len(result.valid) == 20
    assert [r.index for r in result.rejected] == list(range(0, 30, 3))


@pytest.mark.parametrize("size", [0, 101])
def test_request_model_bounds_batch_size(size: int) -> None:
    with pytest.raises(ValueError, match="events"):
        EventBatch.model_validate({"events": [ok()] * size})


def test_request_model_accepts_any_items_for_per_event_validation() -> None:
    batch = EventBatch.model_validate({"events": [ok(), "junk", 3]})
    assert len(batch.events) == 3
