"""The weekly sunset recommendation, sent to ops and marketers without anyone asking.

On the first scheduler tick of each ISO week the last 7 days' sunset advice (campaigns and
formats weak on opens and strong on opt-outs, with the evidence, plus what was too small to
judge) goes to the alert destinations (SNS topic and/or webhook). The week sent is kept as a
scheduler cursor and moved only after a delivery that reached every destination, so a failed
digest is tried again on the next tick; a tick run twice may send it twice (at least once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nudge.clock import Clock
from nudge.domain.config import AnalyticsConfig
from nudge.services.engagement.reports import ReportsService
from nudge.services.ports import Alerts, ProfileStore

CURSOR = "sunset-digest"  # the last ISO week sent, as year * 100 + week
WINDOW_DAYS = 7


def iso_week(when: datetime) -> int:
    year, week, _ = when.isocalendar()
    return year * 100 + week


@dataclass
class SunsetDigestService:
    reports: ReportsService
    cursors: ProfileStore
    alerts: Alerts | None
    config: AnalyticsConfig
    clock: Clock

    def run(self) -> dict[str, Any] | None:
        """The digest sent on this tick, or None (off, no destination, or sent this week)."""
        if not self.config.weekly_sunset or self.alerts is None:
            return None
        week = iso_week(self.clock.now().astimezone(UTC))
        if self.cursors.get_cursor(CURSOR) == week:
            return None
        advice = self.reports.sunset(WINDOW_DAYS)
        digest = {"type": "weekly_sunset", "week": f"{week // 100}-W{week % 100:02d}", **advice}
        subject = (
            f"Nudge: sunset advice for {digest['week']} ({len(advice['candidates'])} to retire)"
        )
        if self.alerts.send(subject, digest):
            return None  # not everywhere: the next tick tries again
        self.cursors.set_cursor(CURSOR, week)
        return digest
