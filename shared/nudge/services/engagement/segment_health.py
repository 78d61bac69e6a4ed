"""Segment health: each named segment's size per day, its campaigns' response per week, and an
alert when either swings week over week.

Run on the scheduler tick, measured once a UTC day: the first tick of the day samples the
profiles as the audience estimate does (a few segments of a parallel Scan, one sample for
every named segment; never a full scan of a large table) and stores one point for the day
(created with a condition: ticks that race store one). The day's size is compared with the
size a week earlier, and last week's open and conversion rates of the campaigns aimed at the
segment (campaign day counters, no scans) with the week before (domain/segment_health.py).
A segment alerts at most once per ISO week: the alerts sent are recorded on the day's point,
and the day is marked checked only once every alert reached every destination, so later
ticks of the day read one item and stop; a failed alert is tried again on the next tick.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import partial
from typing import Any

from nudge.clock import Clock, day_key, to_epoch
from nudge.domain.config import DEFAULT_INTEREST_HALF_LIFE_DAYS, AnalyticsConfig
from nudge.domain.engagement.segment_health import (
    WEEK_DAYS,
    HealthPoint,
    SegmentSize,
    Swing,
    Week,
    iso_week_of,
    size_trend,
    swings,
    weekly,
)
from nudge.domain.profiles.segments import matches
from nudge.models.campaign import Campaign
from nudge.models.segment import Segment
from nudge.services.campaigns.configs import ProfileSampler, estimate_segments
from nudge.services.engagement.reports import ReportsService, rate_json
from nudge.services.ports import Alerts, SegmentHealthStore

RETENTION_DAYS = 400  # the points' TTL: a year of trend and some
LOOKBACK_DAYS = 13  # a week-old size: the newest point 7..13 days back


@dataclass
class SegmentHealthOutcome:
    day: str
    measured: bool = False  # this tick sampled and stored the day's point
    alerts: list[dict[str, Any]] = field(default_factory=list)  # sent on this tick
    alert_failures: list[str] = field(default_factory=list)


def _size_json(day: str, size: SegmentSize) -> dict[str, Any]:
    return {
        "day": day,
        "estimate": size.estimate,
        "interval_95": [size.low, size.high],
        "complete": size.complete,
    }


def _week_json(week: Week) -> dict[str, Any]:
    return {
        "since": week.since,
        "until": week.until,
        "sent": week.sent,
        "delivered": week.delivered,
        "opened": week.opened,
        "converted": week.converted,
        "open_rate": rate_json(week.open_rate),
        "conversion_rate": rate_json(week.conversion_rate),
    }


def _swing_json(swing: Swing) -> dict[str, Any]:
    return {
        "metric": swing.metric,
        "before": swing.before,
        "after": swing.after,
        "change": swing.change,
        "bound": swing.bound,
        "evidence": swing.evidence,
    }


def aimed_at(published: Mapping[str, Campaign]) -> dict[str, list[str]]:
    """Named segment -> the campaigns whose audience refers to it (directly or nested)."""
    found: dict[str, list[str]] = {}
    for cid in sorted(published):
        for name in published[cid].audience.segment_names():
            found.setdefault(name, []).append(cid)
    return found


@dataclass
class SegmentHealthService:
    store: SegmentHealthStore
    sampler: ProfileSampler
    reports: ReportsService
    alerts: Alerts | None
    config: AnalyticsConfig
    clock: Clock
    half_life_days: float = DEFAULT_INTEREST_HALF_LIFE_DAYS
    rng: random.Random | None = None  # which Scan segments are sampled (tests seed it)
    # the published regional response model, for predicted_response / top_regions segments
    regional_view: Callable[[], Any] | None = None

    def _segments(self) -> dict[str, Segment]:
        catalog = self.reports.catalog
        return dict(catalog.current().segments) if catalog else {}

    def run(self) -> SegmentHealthOutcome | None:
        """The day's point (sampled on the day's first tick) and its alerts; None when off,
        when nothing is named, or when the day is done already."""
        if not self.config.segment_health:
            return None
        now = to_epoch(self.clock.now())
        today = day_key(now)
        point = self.store.get(today)
        if point is not None and point.checked:
            return None  # every later tick of the day: one read
        segments = self._segments()
        if not segments and point is None:
            return None
        outcome = SegmentHealthOutcome(today)
        expires_at = now + RETENTION_DAYS * 86_400
        if point is None:
            point = self._measure(today, segments, now)
            outcome.measured = self.store.create(point, expires_at)
            if not outcome.measured:  # another tick stored the day first: judge its point
                point = self.store.get(today) or point
        self._alert(point, segments, outcome)
        point.checked = not outcome.alert_failures
        self.store.put(point, expires_at)
        return outcome

    def _measure(self, today: str, segments: Mapping[str, Segment], now: int) -> HealthPoint:
        audiences = {name: Segment(segment=name) for name in segments}
        match = partial(matches, half_life_days=self.half_life_days)
        if self.regional_view is not None:
            match = partial(match, response=self.regional_view())
        found = estimate_segments(audiences, self.sampler, match, segments, now, self.rng)
        sample = next(iter(found.values()))
        return HealthPoint(
            day=today,
            users=sample["users"],
            scanned=sample["scanned"],
            sampled_segments=sample["sampled_segments"],
            total_segments=sample["total_segments"],
            sizes={name: SegmentSize.of_estimate(found[name]) for name in sorted(found)},
        )

    def _alert(
        self, point: HealthPoint, segments: Mapping[str, Segment], outcome: SegmentHealthOutcome
    ) -> None:
        today = date.fromisoformat(point.day)
        earlier = [
            (today - timedelta(days=back)).isoformat() for back in range(1, LOOKBACK_DAYS + 1)
        ]
        history = self.store.days(earlier)
        week = iso_week_of(point.day)
        alerted = {
            alert["segment"]
            for seen in [*history.values(), point]
            if iso_week_of(seen.day) == week
            for alert in seen.alerts
        }
        week_ago = [history[day] for day in sorted(history) if day <= earlier[WEEK_DAYS - 1]]
        before = week_ago[-1] if week_ago else None
        published = self.reports.published_campaigns()
        campaigns = aimed_at(published)
        aimed = {cid for name in segments for cid in campaigns.get(name, [])}
        period = self.reports.period(2 * WEEK_DAYS + 1, {cid: published[cid] for cid in aimed})
        yesterday = today - timedelta(days=1)
        bounds = self.config.segment_alert
        for name in sorted(set(segments) - alerted):
            week_before, last_week = weekly(period.cells, campaigns.get(name, []), yesterday, 2)
            size_before = before.sizes.get(name) if before else None
            found = swings(size_before, point.sizes.get(name), week_before, last_week, bounds)
            if not found:
                continue
            record = {
                "segment": name,
                "day": point.day,
                "week": week,
                "swings": [_swing_json(swing) for swing in found],
            }
            message = {
                "type": "segment_health",
                **record,
                "campaigns": campaigns.get(name, []),
                "size_compared_with": before.day if before else None,
                "report_with": "nudge report segments",
            }
            subject = (
                f"Nudge: segment {name} swung week over week ({', '.join(s.metric for s in found)})"
            )
            failed = self.alerts.send(subject, message) if self.alerts is not None else []
            if failed:
                outcome.alert_failures += [f"{name}: {where}" for where in failed]
                continue
            point.alerts.append(record)
            outcome.alerts.append(message)

    def report(self, days: int) -> dict[str, Any]:
        """Per named segment over the last `days` days: its sizes with their intervals, the
        trend first to last, its campaigns' response per week with intervals, alerts raised."""
        now = to_epoch(self.clock.now())
        today = date.fromisoformat(day_key(now))
        first = today - timedelta(days=days - 1)
        points = self.store.days([(first + timedelta(days=i)).isoformat() for i in range(days)])
        segments = self._segments()
        names = sorted(set(segments) | {name for p in points.values() for name in p.sizes})
        published = self.reports.published_campaigns()
        campaigns = aimed_at(published)
        weeks = max(1, days // WEEK_DAYS)
        aimed = {cid for name in names for cid in campaigns.get(name, [])}
        period = self.reports.period(weeks * WEEK_DAYS, {cid: published[cid] for cid in aimed})
        rows = {}
        for name in names:
            trend = size_trend(points.values(), name)
            sizes = [_size_json(day, size) for day, size in trend]
            first_size, last_size = (trend[0][1], trend[-1][1]) if trend else (None, None)
            change = (
                round(100 * (last_size.estimate - first_size.estimate) / first_size.estimate, 1)
                if first_size and last_size and first_size.estimate
                else None
            )
            rows[name] = {
                "published": name in segments,
                "campaigns": campaigns.get(name, []),
                "sizes": sizes,
                "size_first": sizes[0] if sizes else None,
                "size_last": sizes[-1] if sizes else None,
                "size_change_pct": change,
                "weeks": [
                    _week_json(w)
                    for w in weekly(period.cells, campaigns.get(name, []), today, weeks)
                ],
                "alerts": [
                    alert
                    for day in sorted(points)
                    for alert in points[day].alerts
                    if alert["segment"] == name
                ],
            }
        return {
            "as_of": now,
            "days": days,
            "since": first.isoformat(),
            "until": today.isoformat(),
            "measured_days": len(points),
            "alert_bounds": self.config.segment_alert.model_dump(),
            "segments": rows,
        }
