"""The weekly sunset recommendation: sent once per ISO week on the scheduler tick, with the
evidence; tried again after a failed delivery; nothing without a destination or when off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from nudge.clock import ManualClock
from nudge.domain.config import AnalyticsConfig
from nudge.services.engagement.sunset_digest import CURSOR, SunsetDigestService, iso_week
from tests.unit.test_auto_pause import CONFIG, Harness

MONDAY = datetime(2026, 3, 9, 0, 5, tzinfo=UTC)


class FlakyAlerts:
    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, subject: str, message: dict[str, Any]) -> list[str]:
        if self.failures:
            self.failures -= 1
            return ["webhook: 503"]
        self.sent.append((subject, message))
        return []


def digest(clock: ManualClock, alerts: Any, config: AnalyticsConfig = CONFIG) -> Any:
    harness = Harness(clock, config)
    # "welcome" opens badly and loses people; "tips" is the healthy baseline around it
    harness.count("welcome", 1, delivered__a=400, opened__a=20, opt_out__a__category=20)
    harness.count("tips", 1, delivered__b=2000, opened__b=600, opt_out__b__category=10)
    service = SunsetDigestService(harness.reports, harness.profiles, alerts, config, clock)
    return service, harness


def test_sent_once_a_week_with_the_evidence() -> None:
    clock = ManualClock(MONDAY)
    alerts = FlakyAlerts()
    service, harness = digest(clock, alerts)
    sent = service.run()
    assert sent is not None and sent["week"] == "2026-W11"
    ((subject, message),) = alerts.sent
    retire = len(message["candidates"])
    assert subject == f"Nudge: sunset advice for 2026-W11 ({retire} to retire)"
    (candidate,) = [c for c in message["candidates"] if c["kind"] == "campaign"]
    assert candidate["key"] == "welcome" and "opt-outs" in candidate["evidence"]
    assert harness.profiles.get_cursor(CURSOR) == 202611
    for _ in range(3):  # later ticks of the same week
        clock.advance(timedelta(hours=6))
        assert service.run() is None
    clock.set(MONDAY + timedelta(days=7))
    assert service.run() is not None and len(alerts.sent) == 2


def test_a_failed_delivery_is_tried_again_on_the_next_tick() -> None:
    clock = ManualClock(MONDAY)
    alerts = FlakyAlerts(failures=1)
    service, harness = digest(clock, alerts)
    assert service.run() is None and harness.profiles.get_cursor(CURSOR) is None
    clock.advance(timedelta(minutes=15))
    assert service.run() is not None and len(alerts.sent) == 1


def test_nothing_without_a_destination_or_when_switched_off() -> None:
    clock = ManualClock(MONDAY)
    service, _ = digest(clock, None)
    assert service.run() is None
    alerts = FlakyAlerts()
    off = CONFIG.model_copy(update={"weekly_sunset": False})
    service, _ = digest(clock, alerts, off)
    assert service.run() is None and alerts.sent == []


def test_weeks_roll_over_the_year_by_iso_numbering() -> None:
    assert iso_week(datetime(2026, 12, 31, tzinfo=UTC)) == 202653
    assert iso_week(datetime(2027, 1, 4, tzinfo=UTC)) == 202701
