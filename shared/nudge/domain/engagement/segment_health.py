"""Segment health, the pure part: a day's sampled sizes, weekly response, and the swings
week over week that are worth an alert.

A named segment's size comes from the audience estimate's sample (one sample a day serves
every segment), so each size carries its 95 % interval; its response is the open and the
conversion rate of the campaigns aimed at it, per 7-day week, from the campaign day counters.
A swing alerts only when it is beyond the configured bound AND beyond chance: the two size
intervals do not overlap, or the difference of the two rates has a 95 % interval that
excludes 0; small segments and thin weeks never alert.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from nudge.domain.config import SegmentAlertConfig
from nudge.domain.engagement.attribution import HOLDOUT, NOT_CAMPAIGNS, Cell
from nudge.domain.stats import Rate, two_proportion_interval

WEEK_DAYS = 7


@dataclass(frozen=True, slots=True)
class SegmentSize:
    """One segment's estimated users on one day, with the sample's 95 % interval."""

    estimate: int
    low: int
    high: int
    matched: int  # in the sample
    complete: bool  # every profile read: the size is exact

    @classmethod
    def of_estimate(cls, found: Mapping[str, Any]) -> SegmentSize:
        """From services.campaigns.configs.estimate_segments' answer for one audience."""
        low, high = found["interval_95"]
        return cls(found["estimate"], low, high, found["matched"], bool(found["complete"]))


@dataclass(slots=True)
class HealthPoint:
    """One day of segment health: every named segment's size, from one sample; the alerts
    raised that day; `checked` once the day's alerts all reached their destinations."""

    day: str  # YYYY-MM-DD (UTC)
    users: int
    scanned: int
    sampled_segments: int
    total_segments: int
    sizes: dict[str, SegmentSize]
    alerts: list[dict[str, Any]] = field(default_factory=list)
    checked: bool = False

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> HealthPoint:
        raw = json.loads(text)
        sizes = {name: SegmentSize(**size) for name, size in raw.pop("sizes").items()}
        return cls(sizes=sizes, **raw)


@dataclass(frozen=True, slots=True)
class Week:
    """A segment's campaigns' response over 7 UTC days (holdouts left out)."""

    since: str
    until: str
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    converted: int = 0

    @property
    def open_rate(self) -> Rate:
        return Rate(self.opened, self.delivered)

    @property
    def conversion_rate(self) -> Rate:
        return Rate(self.converted, self.sent)


def weekly(
    cells: Mapping[Cell, Mapping[str, int]],
    campaigns: Iterable[str],
    last_day: date,
    weeks: int,
) -> list[Week]:
    """`weeks` 7-day weeks ending on `last_day` (oldest first), the campaigns pooled."""
    ids = set(campaigns) - NOT_CAMPAIGNS
    first = last_day.toordinal() - weeks * WEEK_DAYS + 1
    totals = [dict.fromkeys(("sent", "delivered", "opened", "converted"), 0) for _ in range(weeks)]
    for cell, counts in cells.items():
        if cell.campaign not in ids or cell.variant == HOLDOUT:
            continue
        index = (date.fromisoformat(cell.day).toordinal() - first) // WEEK_DAYS
        if 0 <= index < weeks:
            for kind in totals[index]:
                totals[index][kind] += counts.get(kind, 0)
    return [
        Week(
            date.fromordinal(first + i * WEEK_DAYS).isoformat(),
            date.fromordinal(first + (i + 1) * WEEK_DAYS - 1).isoformat(),
            **totals[i],
        )
        for i in range(weeks)
    ]


@dataclass(frozen=True, slots=True)
class Swing:
    """A week-over-week change beyond its bound and beyond chance."""

    metric: str  # "size", "open_rate" or "conversion_rate"
    before: float
    after: float
    change: float  # % for size, points for rates
    bound: float
    evidence: str


def size_swing(before: SegmentSize, after: SegmentSize, config: SegmentAlertConfig) -> Swing | None:
    if before.estimate <= 0 or max(before.estimate, after.estimate) < config.min_size:
        return None  # new or small: a percentage of almost nothing is noise
    change = 100 * (after.estimate - before.estimate) / before.estimate
    if abs(change) < config.size_change_pct:
        return None
    if not (after.high < before.low or after.low > before.high):
        return None  # the sample cannot tell the two sizes apart
    evidence = (
        f"size {before.estimate:,} -> {after.estimate:,} ({change:+.1f} %, bound "
        f"{config.size_change_pct:g} %); 95 % intervals {before.low:,}-{before.high:,} and "
        f"{after.low:,}-{after.high:,} do not overlap"
    )
    return Swing(
        "size", before.estimate, after.estimate, round(change, 2), config.size_change_pct, evidence
    )


def rate_swing(metric: str, before: Rate, after: Rate, config: SegmentAlertConfig) -> Swing | None:
    if min(before.n, after.n) < config.min_delivered:
        return None
    found = two_proportion_interval(after.count, after.n, before.count, before.n)
    if found is None:
        return None
    difference, low, high = (100 * value for value in found)
    if abs(difference) < config.response_change_pts or low <= 0 <= high:
        return None
    evidence = (
        f"{metric.replace('_', ' ')} {before.label} -> {after.label} ({difference:+.1f} pts, "
        f"bound {config.response_change_pts:g}); 95 % interval of the change "
        f"{low:+.1f} to {high:+.1f} pts"
    )
    return Swing(
        metric,
        round(before.pct or 0.0, 2),
        round(after.pct or 0.0, 2),
        round(difference, 2),
        config.response_change_pts,
        evidence,
    )


def swings(
    size_before: SegmentSize | None,
    size_after: SegmentSize | None,
    week_before: Week,
    week_after: Week,
    config: SegmentAlertConfig,
) -> list[Swing]:
    """Every swing of one segment, last week against the week before."""
    found = [
        size_swing(size_before, size_after, config)
        if size_before is not None and size_after is not None
        else None,
        rate_swing("open_rate", week_before.open_rate, week_after.open_rate, config),
        rate_swing(
            "conversion_rate", week_before.conversion_rate, week_after.conversion_rate, config
        ),
    ]
    return [swing for swing in found if swing is not None]


def iso_week_of(day: str) -> str:
    year, week, _ = date.fromisoformat(day).isocalendar()
    return f"{year}-W{week:02d}"


def size_trend(points: Iterable[HealthPoint], segment: str) -> list[tuple[str, SegmentSize]]:
    """(day, size) of one segment, oldest first, over the days it was measured."""
    ordered = sorted(points, key=lambda point: point.day)
    return [(p.day, p.sizes[segment]) for p in ordered if segment in p.sizes]
