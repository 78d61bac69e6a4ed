"""One fatigue budget per user: every path that interrupts them counts against the same caps.

Campaign sends, broadcast jobs, API-sent messages and survey prompts are interruptions
(`Interruption`): each category's `CategoryCaps` bound how many a user gets per LOCAL calendar
day and per the last 7 local days (today and the 6 before) in the user's zone. With no zone
known the windows are rolling: the last 24 hours and the last 7 days. Transactional messages
never count and are never refused; internal broadcasts neither, while
`EngagementConfig.fatigue_exempt_internal` says so. A category without caps is not booked.

The ledger (`FatigueLedger`) keeps a user's interruptions of the last 8 days in one item and
books each with a conditional write, so two paths racing for the last slot cannot both win.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nudge.clock import DAY
from nudge.domain.config import CategoryCaps
from nudge.models.fatigue import Booking, Interruption
from nudge.models.profile import SendRecord

WEEK = 7 * DAY
# longer than 7 local days can reach back (23:59 today to 00:00 six days ago, plus a DST hour)
KEEP_S = 8 * DAY


class Windows(NamedTuple):
    """Interruptions at or after `day_from` count for the day, after `week_from` for the week."""

    day_from: int
    week_from: int
    local: bool  # calendar days in the user's zone (False: rolling 24 h / 7 d)


@lru_cache(maxsize=256)  # the candidates of one pass (and a batch's users) share a moment
def windows(now: int, zone: str | None) -> Windows:
    if zone is not None:
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            tz = None
        if tz is not None:
            today = datetime.fromtimestamp(now, tz).date()
            midnight = datetime.combine(today, time(), tzinfo=tz)
            week = datetime.combine(today - timedelta(days=6), time(), tzinfo=tz)
            return Windows(int(midnight.timestamp()), int(week.timestamp()), True)
    return Windows(now - DAY + 1, now - WEEK + 1, False)


def counted(
    category: str, source: str, caps: Mapping[str, CategoryCaps], exempt_internal: bool
) -> CategoryCaps | None:
    """The caps an interruption counts against (None: it is not booked at all)."""
    if category == "transactional":
        return None
    if exempt_internal and category == "internal" and source.startswith("broadcast:"):
        return None
    return caps.get(category)


def tally(moments: Iterable[int], within: Windows) -> tuple[int, int]:
    """(today, this week) among the given moments."""
    day = week = 0
    for at in moments:
        if at >= within.week_from:
            week += 1
            day += at >= within.day_from
    return day, week


def campaign_moments(
    sends: Sequence[SendRecord], ledger: Iterable[Interruption], category: str
) -> list[int]:
    """A campaign decision's view: the profile's sends (holdouts' would-be sends included)
    and the ledger's other interruptions; a campaign job in both is counted once."""
    mine = [send.at for send in sends if send.category == category]
    jobs = {send.job for send in sends if send.job is not None}
    mine += [i.at for i in ledger if i.category == category and i.job not in jobs]
    return mine


def blocking(day: int, week: int, category: str, caps: CategoryCaps, within: Windows) -> str | None:
    """Which cap is reached (None: there is room for one more)."""
    today, days = ("today", "in the last 7 days") if within.local else ("in 24h", "in 7d")
    if caps.per_day is not None and day >= caps.per_day:
        return f"{day} {category} interruptions {today} (cap {caps.per_day})"
    if caps.per_week is not None and week >= caps.per_week:
        return f"{week} {category} interruptions {days} (cap {caps.per_week})"
    return None


def book(
    entries: Sequence[Interruption],
    new: Interruption,
    caps: CategoryCaps,
    now: int,
    zone: str | None,
) -> tuple[Booking, list[Interruption]]:
    """The booking's answer and the entries to store (pruned of those older than 8 days)."""
    if any(entry.key == new.key for entry in entries):
        return Booking("already_booked"), list(entries)
    kept = [entry for entry in entries if entry.at > now - KEEP_S]
    within = windows(now, zone)
    day, week = tally((e.at for e in kept if e.category == new.category), within)
    detail = blocking(day, week, new.category, caps, within)
    if detail is not None:
        return Booking("refused", detail), list(entries)
    return Booking("booked"), [*kept, new]
