"""In-memory fake of the SegmentHealthStore port (tests only, never in the Lambda layer)."""

from __future__ import annotations

from collections.abc import Sequence

from nudge.domain.engagement.segment_health import HealthPoint


class InMemorySegmentHealthStore:
    def __init__(self) -> None:
        self.points: dict[str, str] = {}  # day -> the point's JSON, as the adapter stores it
        self.expires: dict[str, int] = {}
        self.creates = 0  # points written by create (the day's measurement)

    def get(self, day: str) -> HealthPoint | None:
        text = self.points.get(day)
        return HealthPoint.from_json(text) if text else None

    def days(self, days: Sequence[str]) -> dict[str, HealthPoint]:
        return {day: HealthPoint.from_json(self.points[day]) for day in days if day in self.points}

    def create(self, point: HealthPoint, expires_at: int) -> bool:
        if point.day in self.points:
            return False
        self.creates += 1
        self.put(point, expires_at)
        return True

    def put(self, point: HealthPoint, expires_at: int) -> None:
        self.points[point.day] = point.to_json()
        self.expires[point.day] = expires_at
