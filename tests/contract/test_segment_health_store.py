"""SegmentHealthStore: the in-memory fake vs the DynamoDB adapter (profiles table items)."""

from __future__ import annotations

from typing import Any

import pytest

from nudge.adapters.metering import WriteMeter
from nudge.adapters.segment_health import DynamoSegmentHealthStore
from nudge.domain.engagement.segment_health import HealthPoint, SegmentSize
from tests.fakes.segment_health import InMemorySegmentHealthStore

pytestmark = pytest.mark.integration


def fake() -> InMemorySegmentHealthStore:
    return InMemorySegmentHealthStore()


def adapter(ddb: Any) -> DynamoSegmentHealthStore:
    return DynamoSegmentHealthStore("ProfilesTable", WriteMeter(), ddb)


def point(day: str, estimate: int) -> HealthPoint:
    size = SegmentSize(estimate, estimate - 5, estimate + 5, estimate // 10, False)
    return HealthPoint(day, 20_000, 8_000, 8, 20, {"commuters": size})


def test_created_once_then_rewritten_and_read_by_day(store) -> None:  # type: ignore[no-untyped-def]
    assert store.get("2026-03-02") is None and store.days(["2026-03-02"]) == {}
    assert store.create(point("2026-03-02", 600), 2_000_000_000)
    assert not store.create(point("2026-03-02", 999), 2_000_000_000)  # a racing tick
    stored = store.get("2026-03-02")
    assert stored == point("2026-03-02", 600)
    stored.alerts.append({"segment": "commuters", "day": "2026-03-02", "week": "2026-W10"})
    stored.checked = True
    store.put(stored, 2_000_000_000)
    assert store.create(point("2026-03-03", 610), 2_000_000_000)
    found = store.days(["2026-03-01", "2026-03-02", "2026-03-03"])
    assert sorted(found) == ["2026-03-02", "2026-03-03"]
    assert found["2026-03-02"].checked and found["2026-03-02"].alerts[0]["week"] == "2026-W10"
    assert found["2026-03-03"].sizes["commuters"].estimate == 610
