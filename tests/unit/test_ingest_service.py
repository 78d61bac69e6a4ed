from __future__ import annotations

from typing import Any

import pytest

from nudge.clock import ManualClock
from nudge.domain.config import EngagementConfig
from nudge.services.profiles import ingest
from nudge.services.profiles.ingest import IngestService, QueueUnavailable
from tests.fakes.memory import InMemoryPublisher


def raw(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"e{i}",
        "name": "screen_view",
        "timestamp": "2026-03-02T09:00:00Z",
        **extra,
    }


@pytest.fixture
def service(clock: ManualClock) -> IngestService:
    return IngestService(InMemoryPublisher(), EngagementConfig(), clock)


def test_valid_events_are_queued_as_one_message_for_the_caller(service: IngestService) -> None:
    result = service.ingest("ann", [raw(1), raw(2), {"bad": True}])
    assert result.accepted == 2 and [r.index for r in result.rejected] == [2]
    publisher = service.publisher
    assert isinstance(publisher, InMemoryPublisher)
    (batch,) = publisher.sent
    assert batch.user_id == "ann" and [e.event_id for e in batch.events] == ["e1", "e2"]


def test_nothing_valid_sends_nothing(service: IngestService) -> None:
    result = service.ingest("ann", [{"bad": 1}])
    assert result.accepted == 0
    assert service.publisher.sent == []  # type: ignore[attr-defined]


def test_large_requests_are_split_under_the_message_limit(
    service: IngestService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "MAX_MESSAGE_BYTES", 1000)
    result = service.ingest("ann", [raw(i, properties={"text": "x" * 300}) for i in range(10)])
    assert result.accepted == 10
    sent = service.publisher.sent  # type: ignore[attr-defined]
    assert len(sent) > 1
    assert sum(len(b.events) for b in sent) == 10
    assert all(len(b.model_dump_json()) < 2000 for b in sent)


def test_partially_failed_send_reports_those_events_as_retryable(
    service: IngestService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ingest, "MAX_MESSAGE_BYTES", 1000)
    publisher = service.publisher
    assert isinstance(publisher, InMemoryPublisher)
    publisher.fail_indexes = {1}
    result = service.ingest("ann", [raw(i, properties={"text": "x" * 300}) for i in range(6)])
    retryable = [r for r in result.rejected if "retry" in r.error]
    assert retryable and result.accepted + len(retryable) == 6


def test_total_send_failure_raises_for_a_503(service: IngestService) -> None:
    service.publisher.fail_indexes = {0}  # type: ignore[attr-defined]
    with pytest.raises(QueueUnavailable):
        service.ingest("ann", [raw(1)])
