"""Time is injected: every decision takes `now` from a Clock, never from datetime.now()."""

from __future__ import annotations

import re
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

HOUR = 3_600
DAY = 86_400


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock:
    """A clock that only moves when told to: tests, the demo and the local stack use it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
MAX_DURATION_DAYS = 3660
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> timedelta:
    """Parse '90s', '15m', '6h', '7d', '1w', or combinations such as '1d12h'."""
    cleaned = text.strip().lower().replace(" ", "")
    pos, seconds = 0, 0.0
    for match in _DURATION.finditer(cleaned):
        if match.start() != pos:
            break
        seconds += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos == 0 or pos != len(cleaned):
        raise ValueError(f"invalid duration {text!r}: use forms like 30s, 15m, 6h, 7d or 1w")
    if seconds > MAX_DURATION_DAYS * 86400:
        raise ValueError(f"invalid duration {text!r}: at most {MAX_DURATION_DAYS} days")
    return timedelta(seconds=seconds)


def to_epoch(when: datetime) -> int:
    return int(when.timestamp())


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def day_key(at: int) -> str:
    return datetime.fromtimestamp(at, UTC).date().isoformat()


def week_key(at: int) -> str:
    return iso_week(datetime.fromtimestamp(at, UTC).date())


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"
