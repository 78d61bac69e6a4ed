"""Segment health on the scheduler tick: a named segment's size per day from the audience
estimate's sample (never a full scan of a large table), one point per day however many ticks,
a real swing alerts once a week, noise never does; and the report built from the points."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nudge.clock import ManualClock, to_epoch
from nudge.domain.config import AnalyticsConfig, SegmentAlertConfig
from nudge.domain.engagement.counters import counter_name
from nudge.domain.engagement.segment_health import SegmentSize, Week, rate_swing, size_swing
from nudge.domain.stats import Rate
from nudge.models.profile import Profile, Stage
from nudge.services.campaigns.configs import SAMPLED_SEGMENTS, CampaignConfigService
from nudge.services.configs.store import ConfigStore
from nudge.services.engagement.reports import ReportsService
from nudge.services.engagement.segment_health import SegmentHealthService
from nudge_cli import reports as report_commands
from nudge_cli.main import main
from tests.fakes.memory import InMemoryConfigTable, InMemoryProfileStore
from tests.fakes.profile_sample import InMemoryProfileSampler
from tests.fakes.segment_health import InMemorySegmentHealthStore
from tests.unit.test_campaign_configs import with_segment
from tests.unit.test_sunset_digest import FlakyAlerts

MONDAY = datetime(2026, 3, 2, 0, 5, tzinfo=UTC)
USERS = 20_000  # above SCAN_ALL_BELOW: the estimate samples
SEGMENTS = b"""\
segments:
  actives:
    lifecycle: [active]
  loyals:
    lifecycle: [loyal]
"""


class CountingSampler(InMemoryProfileSampler):
    def __init__(self, profiles: list[Profile]) -> None:
        super().__init__(profiles)
        self.scans: list[tuple[int, int]] = []

    def scan_segment(self, segment: int, total_segments: int) -> list[Profile]:
        self.scans.append((segment, total_segments))
        return super().scan_segment(segment, total_segments)


def population(active: int, loyal: int = 0, users: int = USERS) -> list[Profile]:
    """`active` active and `loyal` loyal users spread at random among dormant ones."""
    draw = random.Random(active * 7 + loyal)
    chosen = draw.sample(range(users), active + loyal)
    stages = dict.fromkeys(chosen[:active], Stage.ACTIVE) | dict.fromkeys(
        chosen[active:], Stage.LOYAL
    )
    return [Profile(user_id=f"u{i}", stage=stages.get(i, Stage.DORMANT)) for i in range(users)]


class Harness:
    def __init__(
        self, clock: ManualClock, alerts: Any, bounds: SegmentAlertConfig | None = None
    ) -> None:
        self.clock = clock
        store = ConfigStore(InMemoryConfigTable(), clock, cache_ttl_s=0)
        configs = CampaignConfigService(store, clock)
        assert configs.load_object("segments/core.yaml", SEGMENTS, None).result == "loaded"
        campaign = with_segment("winback", "actives").encode()
        assert configs.load_object("campaigns/winback.yaml", campaign, None).result == "loaded"
        config = AnalyticsConfig(segment_alert=bounds or SegmentAlertConfig())
        self.profiles = InMemoryProfileStore()
        self.sampler = CountingSampler(population(6_000))
        self.store = InMemorySegmentHealthStore()
        self.alerts = alerts
        reports = ReportsService(self.profiles, clock, store, config)
        self.service = SegmentHealthService(
            self.store, self.sampler, reports, alerts, config, clock, rng=random.Random(3)
        )

    def count(self, days_ago: int, **fields: int) -> None:
        at = to_epoch(self.clock.now()) - days_ago * 86_400
        self.profiles.named_counters[counter_name("winback", at)].update(
            {k.replace("__", "."): v for k, v in fields.items()}
        )


def test_daily_sizes_come_from_the_estimates_sample_not_a_scan() -> None:
    clock = ManualClock(MONDAY)
    harness = Harness(clock, FlakyAlerts())
    outcome = harness.service.run()
    assert outcome is not None and outcome.measured
    # one sample for both segments: SAMPLED_SEGMENTS of the 20 Scan segments, read once each
    assert len(harness.sampler.scans) == SAMPLED_SEGMENTS
    assert {total for _, total in harness.sampler.scans} == {USERS // 1_000}
    point = harness.store.get("2026-03-02")
    assert point is not None
    assert point.scanned == SAMPLED_SEGMENTS * 1_000 and point.users == USERS
    actives = point.sizes["actives"]
    assert not actives.complete and actives.low <= 6_000 <= actives.high
    assert actives.high - actives.low < 1_000
    assert point.sizes["loyals"].estimate == 0
    assert harness.store.expires["2026-03-02"] >= to_epoch(MONDAY) + 365 * 86_400


def test_the_point_is_written_once_per_day_under_repeated_ticks() -> None:
    clock = ManualClock(MONDAY)
    harness = Harness(clock, FlakyAlerts())
    assert harness.service.run() is not None
    for _ in range(20):  # the rest of the day's 15-minute ticks
        clock.advance(timedelta(minutes=15))
        assert harness.service.run() is None
    assert harness.store.creates == 1 and len(harness.sampler.scans) == SAMPLED_SEGMENTS
    clock.set(MONDAY + timedelta(days=1))
    assert harness.service.run() is not None
    assert harness.store.creates == 2 and sorted(harness.store.points) == [
        "2026-03-02",
        "2026-03-03",
    ]


def test_a_planted_40_pct_size_drop_alerts_once() -> None:
    clock = ManualClock(MONDAY)
    alerts = FlakyAlerts()
    harness = Harness(clock, alerts)
    harness.service.run()
    clock.set(MONDAY + timedelta(days=1))
    harness.service.run()  # Tuesday's point: the week-old size for next Tuesday
    assert alerts.sent == []
    harness.sampler.profiles = population(3_600)  # 40 % fewer active users
    clock.set(MONDAY + timedelta(days=7))
    outcome = harness.service.run()
    assert outcome is not None
    ((subject, message),) = alerts.sent
    assert "actives" in subject and message["segment"] == "actives"
    ((swing,),) = [message["swings"]]
    assert swing["metric"] == "size" and -45 < swing["change"] < -35
    assert message["size_compared_with"] == "2026-03-02" and message["week"] == "2026-W11"
    for hours in (1, 5, 30):  # later ticks that day and the next day of the same ISO week
        clock.set(MONDAY + timedelta(days=7, hours=hours))
        harness.service.run()
    assert len(alerts.sent) == 1
    report = harness.service.report(90)
    row = report["segments"]["actives"]
    assert [a["day"] for a in row["alerts"]] == ["2026-03-09"]
    assert row["size_first"]["day"] == "2026-03-02" and row["size_change_pct"] < -30
    assert report["measured_days"] == 4 and row["campaigns"] == ["winback"]


def test_a_failed_alert_is_sent_again_on_the_next_tick_and_then_the_day_is_done() -> None:
    clock = ManualClock(MONDAY)
    alerts = FlakyAlerts(failures=1)
    harness = Harness(clock, alerts)
    harness.service.run()
    harness.sampler.profiles = population(3_600)
    clock.set(MONDAY + timedelta(days=7))
    first = harness.service.run()
    assert first is not None and first.alert_failures and alerts.sent == []
    clock.advance(timedelta(minutes=15))
    second = harness.service.run()
    assert second is not None and not second.measured and len(alerts.sent) == 1
    clock.advance(timedelta(minutes=15))
    assert harness.service.run() is None and len(alerts.sent) == 1


def test_a_small_noisy_segment_does_not_alert_on_a_swing_inside_its_interval() -> None:
    clock = ManualClock(MONDAY)
    alerts = FlakyAlerts()
    # no minimum size: only the sampling interval stands between noise and an alert
    harness = Harness(clock, alerts, SegmentAlertConfig(min_size=1))
    harness.sampler.profiles = population(6_000, loyal=40)
    harness.service.run()
    harness.sampler.profiles = population(6_000, loyal=24)  # -40 %, but ~16 -> ~10 sampled
    clock.set(MONDAY + timedelta(days=7))
    harness.service.run()
    before, after = (harness.store.get(d) for d in ("2026-03-02", "2026-03-09"))
    assert before is not None and after is not None
    assert after.sizes["loyals"].estimate < 0.75 * before.sizes["loyals"].estimate
    assert alerts.sent == []


def test_a_response_swing_alerts_and_a_thin_week_does_not() -> None:
    clock = ManualClock(MONDAY + timedelta(days=14))
    alerts = FlakyAlerts()
    harness = Harness(clock, alerts)
    harness.count(10, delivered__a=1_000, opened__a=300, sent__a=1_000)  # the week before
    harness.count(3, delivered__a=1_000, opened__a=150, sent__a=1_000)  # last week: half
    harness.service.run()
    ((_, message),) = alerts.sent
    (swing,) = message["swings"]
    assert swing["metric"] == "open_rate" and swing["change"] == -15.0
    assert message["campaigns"] == ["winback"]
    bounds = SegmentAlertConfig()
    thin = rate_swing("open_rate", Rate(8, 10), Rate(2, 10), bounds)
    assert thin is None  # 60 points, but 10 deliveries a week
    noisy = rate_swing(
        "open_rate", Rate(5, 10), Rate(2, 10), bounds.model_copy(update={"min_delivered": 1})
    )
    assert noisy is None  # 30 points, but the change's interval includes 0


def test_size_swings_need_the_bound_the_size_and_separate_intervals() -> None:
    bounds = SegmentAlertConfig(size_change_pct=30, min_size=100)
    exact = SegmentSize(1_000, 1_000, 1_000, 1_000, True)
    assert size_swing(exact, SegmentSize(750, 750, 750, 750, True), bounds) is None  # -25 %
    swing = size_swing(exact, SegmentSize(600, 600, 600, 600, True), bounds)
    assert swing is not None and swing.change == -40.0
    assert (
        size_swing(SegmentSize(50, 50, 50, 50, True), SegmentSize(20, 20, 20, 20, True), bounds)
        is None
    )
    wide = SegmentSize(600, 400, 900, 24, False)
    assert size_swing(SegmentSize(1_000, 800, 1_300, 40, False), wide, bounds) is None
    assert Week("2026-03-02", "2026-03-08").open_rate.value is None


def test_nudge_report_segments_prints_the_trend_the_week_and_the_alerts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clock = ManualClock(MONDAY)
    harness = Harness(clock, FlakyAlerts())
    harness.service.run()
    harness.sampler.profiles = population(3_600)
    clock.set(MONDAY + timedelta(days=7))
    harness.count(2, delivered__a=400, opened__a=120, sent__a=400, converted__a=20)
    harness.service.run()
    calls: list[str] = []

    def fake_call(args: Any, method: str, path: str, body: Any = None) -> Any:
        calls.append(path)
        return harness.service.report(int(path.rpartition("=")[2]))

    monkeypatch.setattr(report_commands, "admin_call", fake_call)
    assert main(["report", "segments"]) == 0
    out = capsys.readouterr().out
    assert calls == ["/admin/v1/reports/segments?days=90"]
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    actives = lines["actives"]
    first, last = (harness.store.get(d) for d in ("2026-03-02", "2026-03-09"))
    assert first is not None and last is not None
    assert f"{first.sizes['actives'].estimate:,}" in actives
    assert f"{last.sizes['actives'].estimate:,}" in actives
    assert "30.0% (" in actives and "n=400" in actives and "5.0% (" in actives
    assert "loyals" in lines and "n/a" in lines["loyals"]
    assert "alert 2026-03-09 actives: size" in out and "do not overlap" in out
    assert main(["report", "segments", "--days", "14", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert calls[-1] == "/admin/v1/reports/segments?days=14" and len(data["segments"]) == 2
