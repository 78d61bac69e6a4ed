"""Broadcast waves: one wall time on one date, reached at each UTC offset in turn.

A local-time broadcast (09:00 on 24 Dec in each user's zone) is sent in waves, one per
distinct UTC offset that any IANA zone has at that wall time, from UTC+14 to UTC-12 with
the :30 and :45 offsets. A user belongs to exactly one wave: the one whose instant is the
moment their zone reaches the wall time (a pure function of the zone, so every wave's walk
of the audience agrees on it without storing anything per user).
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, available_timezones

from nudge.models.broadcast import MAX_SCHEDULE_AHEAD, BroadcastRequest, Wave


class InvalidSchedule(ValueError):
    """A start in the past or too far ahead; the message names the field."""


@lru_cache(maxsize=1)
def _all_zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones() - {"localtime", "posixrules", "Factory"}))


def arrival(zone: str, on: date, at: time) -> datetime:
    """The UTC instant `zone`'s clock shows `at` on `on`. A wall time skipped by a DST change
    (02:30 on a spring-forward night) is read with the offset before the change (fold=0), and
    a repeated one is its first occurrence: the same rule for the plan and for each user."""
    return datetime.combine(on, at, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def plan_waves(on: date, at: time) -> list[Wave]:
    """Every distinct offset at which some zone reaches `at` on `on`, earliest first."""
    wall = datetime.combine(on, at, tzinfo=UTC)
    instants = {arrival(zone, on, at) for zone in _all_zones()}
    return [
        Wave(utc_offset_minutes=int((wall - instant).total_seconds() // 60), at=instant)
        for instant in sorted(instants)
    ]


def wave_index(waves: list[Wave], zone: str, on: date, at: time) -> int:
    """The one wave `zone` belongs to: the first whose instant is not before the zone's own
    arrival (equal for every IANA zone, since the plan holds them all; a zone unknown to the
    plan would go out at the next wave, never early)."""
    index = bisect_left([wave.at for wave in waves], arrival(zone, on, at))
    return min(index, len(waves) - 1)


def checked_waves(request: BroadcastRequest, now: datetime) -> list[Wave]:
    """The waves of a local-time request (none for the others), once its start is checked: in
    the future (all of it: the first wave, at UTC+14, not begun) and within 35 days."""
    if request.start_at is not None:
        first = last = request.start_at
        field = "start_at"
        waves: list[Wave] = []
    elif request.local_time is not None and request.local_date is not None:
        # checked before planning: 0001-01-01 or 9999-12-31 has no instant at every offset
        days_ahead = (request.local_date - now.date()).days
        if not -1 <= days_ahead <= MAX_SCHEDULE_AHEAD.days + 1:
            raise InvalidSchedule(
                f"local_date: {request.local_date.isoformat()} is not within the next "
                f"{MAX_SCHEDULE_AHEAD.days} days"
            )
        waves = plan_waves(request.local_date, request.local_time)
        first, last = waves[0].at, waves[-1].at
        field = "local_date"
    else:
        return []
    if first <= now:
        raise InvalidSchedule(
            f"{field}: the start {first.astimezone(UTC).isoformat()} is not in the future "
            f"(now {now.isoformat()})"
        )
    if last - now > MAX_SCHEDULE_AHEAD:
        raise InvalidSchedule(
            f"{field}: {last.astimezone(UTC).isoformat()} is more than "
            f"{MAX_SCHEDULE_AHEAD.days} days ahead"
        )
    return waves
