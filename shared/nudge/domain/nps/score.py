"""NPS: merging answers that arrive in parts, mergeable aggregates, the score and reports.

Responses in parts
    An answer to one prompt may arrive as several submissions (the score first, the
    comments later), retried and reordered. `merge_part` folds one part into the prompt's
    `ResponseState`: each field keeps the value of the latest part that set it, "latest" by
    (answered_at, response_id) - a total order, so any delivery order gives the same state,
    and the same part twice changes nothing.

Aggregate deltas
    A state counts once, under its score, in one cell per (period, dimension): the day and
    ISO week of its answer, overall and per lifecycle stage, platform, app_version and
    country. `merge_part` returns the change of that contribution: non-zero only when the
    score first arrives (+1 in each cell) or changes (-1 under the old score, +1 under the
    new one, also when the segment facts or the day travel with it). A comment-only part, or
    the same part again, gives an empty delta. Summing every delta therefore equals counting
    the final states afresh, whatever the order (tests/unit/test_nps_responses.py checks it).

Score
    NPS = %promoters (9-10) - %detractors (0-6), in [-100, 100]. Each answer is +1 / 0 / -1;
    the 95 % interval is NPS +- 1.96 * sqrt(var / n) * 100 with var = p + d - (p - d)^2,
    clipped to [-100, 100]. CSAT = % satisfied (4-5 of 1-5), with the Wilson interval. CES =
    the mean answer (1-7, higher is easier) +- 1.96 * s / sqrt(n). Fewer than `min_responses`
    answers are flagged `insufficient`. Counters hold scores 0..10 whatever the kind (CSAT and
    CES use the low part), so storage and merging are the same for all three.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal, NamedTuple

from nudge.clock import day_key, iso_week, week_key
from nudge.domain.stats import Z95, wilson
from nudge.models.survey import BANDS, Scale
from nudge.models.survey_responses import ResponsePart, ResponseState, Stamped

SCORES = 11
DIMENSIONS = ("lifecycle", "platform", "app_version", "country")
OVERALL = "all"  # the dimension of the overall count; its value is ""
UNKNOWN = "unknown"
DEFAULT_MIN_RESPONSES = 30

Granularity = Literal["day", "week"]


class Cell(NamedTuple):
    """One aggregate counter set: a survey, a period ('2026-03-02' or '2026-W10'), a slice."""

    survey_id: str
    period: str
    dimension: str
    value: str


Delta = dict[tuple[Cell, int], int]  # (cell, score) -> change in count; zeros are dropped


def _later(stamp: Stamped, than: Stamped | None) -> bool:
    return than is None or (stamp.at, stamp.response_id) > (than.at, than.response_id)


def merge_part(
    state: ResponseState | None,
    part: ResponsePart,
    periods: tuple[Granularity, ...] = ("day", "week"),
) -> tuple[ResponseState, Delta]:
    """Fold `part` into the prompt's state; returns the new state and the aggregate delta."""
    if state is None:
        state = ResponseState(
            prompt_id=part.prompt_id, user_id=part.user_id, survey_id=part.survey_id, kind=part.kind
        )
    elif (state.prompt_id, state.user_id, state.survey_id) != (
        part.prompt_id,
        part.user_id,
        part.survey_id,
    ):
        raise ValueError("the part belongs to another prompt, user or survey")
    stamp = Stamped(at=part.at, response_id=part.response_id)
    update: dict[str, object] = {}
    if part.score is not None and _later(stamp, state.score_set):
        update |= {
            "score": part.score,
            "score_set": stamp,
            "locale": part.locale,
            "platform": part.platform,
            "app_version": part.app_version,
            "country": part.country,
            "stage": part.stage,
        }
    if part.reason is not None and _later(stamp, state.reason_set):
        update |= {"reason": part.reason, "reason_set": stamp}
    if part.follow_up is not None and _later(stamp, state.follow_up_set):
        update |= {"follow_up": part.follow_up, "follow_up_set": stamp}
    if not update:
        return state, {}
    merged = state.model_copy(update={**update, "parts": state.parts + 1})
    return merged, diff(contribution(state, periods), contribution(merged, periods))


def contribution(
    state: ResponseState | None, periods: tuple[Granularity, ...] = ("day", "week")
) -> Delta:
    """What one merged answer adds to the aggregates (nothing until it has a score)."""
    if state is None or state.score is None or state.score_set is None:
        return {}
    at = state.score_set.at
    slices = [(OVERALL, ""), *((name, segment_value(state, name)) for name in DIMENSIONS)]
    keys = [day_key(at) if p == "day" else week_key(at) for p in periods]
    return {
        (Cell(state.survey_id, period, dimension, value), state.score): 1
        for period in keys
        for dimension, value in slices
    }


def segment_value(state: ResponseState, dimension: str) -> str:
    if dimension == "lifecycle":
        return state.stage.value if state.stage else UNKNOWN
    value = getattr(state, dimension)
    return str(value) if value else UNKNOWN


def diff(before: Delta, after: Delta) -> Delta:
    delta = dict(after)
    for key, count in before.items():
        delta[key] = delta.get(key, 0) - count
    return {key: count for key, count in delta.items() if count}


# --- aggregates --------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreCounts:
    """How many answers gave each score 0..10."""

    counts: tuple[int, ...] = (0,) * SCORES

    def __post_init__(self) -> None:
        if len(self.counts) != SCORES:
            raise ValueError("ScoreCounts needs 11 counts (scores 0..10)")

    def __add__(self, other: ScoreCounts) -> ScoreCounts:
        return ScoreCounts(tuple(a + b for a, b in zip(self.counts, other.counts, strict=True)))

    @property
    def n(self) -> int:
        return sum(self.counts)

    @property
    def promoters(self) -> int:
        return self.counts[9] + self.counts[10]

    @property
    def passives(self) -> int:
        return self.counts[7] + self.counts[8]

    @property
    def detractors(self) -> int:
        return sum(self.counts[:7])

    def bands(self, scale: Scale) -> tuple[int, int, int]:
        """(top, middle, bottom) band counts on a kind's scale."""
        counts = self.counts
        return (
            sum(counts[scale.promoter_from : scale.high + 1]),
            sum(counts[scale.passive_from : scale.promoter_from]),
            sum(counts[scale.low : scale.passive_from]),
        )

    @property
    def mean(self) -> float | None:
        n = self.n
        return None if n == 0 else sum(s * c for s, c in enumerate(self.counts)) / n

    @classmethod
    def of(cls, scores: Iterable[int]) -> ScoreCounts:
        counts = [0] * SCORES
        for score in scores:
            counts[score] += 1
        return cls(tuple(counts))


@dataclass
class NpsAggregates:
    """Counters per cell; mergeable (sum) and updated by deltas. Storage mirrors the cells."""

    cells: dict[Cell, list[int]] = field(default_factory=dict)

    def apply(self, delta: Delta) -> None:
        for (cell, score), change in delta.items():
            counts = self.cells.setdefault(cell, [0] * SCORES)
            counts[score] += change
            if counts[score] < 0:
                raise ValueError(f"negative count in {cell} for score {score}")

    def merge(self, other: NpsAggregates) -> NpsAggregates:
        result = NpsAggregates({cell: list(c) for cell, c in self.cells.items()})
        for cell, counts in other.cells.items():
            mine = result.cells.setdefault(cell, [0] * SCORES)
            for score, count in enumerate(counts):
                mine[score] += count
        return result

    def add_counts(self, cell: Cell, counts: ScoreCounts) -> None:
        mine = self.cells.setdefault(cell, [0] * SCORES)
        for score, count in enumerate(counts.counts):
            mine[score] += count

    def get(self, cell: Cell) -> ScoreCounts:
        counts = self.cells.get(cell)
        return ScoreCounts(tuple(counts)) if counts else ScoreCounts()

    def nonzero(self) -> dict[Cell, tuple[int, ...]]:
        """Cells with any count (for comparing two aggregates)."""
        return {cell: tuple(c) for cell, c in self.cells.items() if any(c)}


def aggregate(
    states: Iterable[ResponseState], periods: tuple[Granularity, ...] = ("day", "week")
) -> NpsAggregates:
    """Recompute aggregates from final answers (a rebuild, or to check the incremental path)."""
    result = NpsAggregates()
    for state in states:
        result.apply(contribution(state, periods))
    return result


def rollup_weeks(aggregates: NpsAggregates) -> NpsAggregates:
    """Week cells summed from day cells (when storage keeps day counters only)."""
    result = NpsAggregates()
    for cell, counts in aggregates.cells.items():
        if len(cell.period) == 10:  # YYYY-MM-DD
            week = iso_week(date.fromisoformat(cell.period))
            result.add_counts(cell._replace(period=week), ScoreCounts(tuple(counts)))
    return result


# --- the score ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NpsSummary:
    n: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None  # None when there are no answers (never NaN)
    ci_low: float | None
    ci_high: float | None
    mean_score: float | None
    insufficient: bool
    label: str  # "NPS 42 (n=120, 95% CI 30 to 54)", "no responses", "... insufficient ..."
    kind: str = "nps"
    score: float | None = None  # the kind's headline: NPS, CSAT % satisfied or the CES mean


def summary(
    counts: ScoreCounts, kind: str = "nps", min_responses: int = DEFAULT_MIN_RESPONSES
) -> NpsSummary:
    """The score of a survey of any kind; CSAT and CES report their bands as promoters
    (satisfied / easy), passives and detractors (dissatisfied / difficult)."""
    if kind == "nps":
        return nps_summary(counts, min_responses)
    n = counts.n
    top, middle, bottom = counts.bands(BANDS[kind])
    if n == 0:
        return NpsSummary(0, 0, 0, 0, None, None, None, None, True, "no responses", kind)
    mean = counts.mean
    assert mean is not None
    if kind == "csat":
        low, high = (100 * bound for bound in wilson(top, n))
        score = 100 * top / n
        label = f"CSAT {score:.0f}% satisfied (n={n}, 95% CI {low:.0f} to {high:.0f})"
    else:
        variance = sum(c * (s - mean) ** 2 for s, c in enumerate(counts.counts)) / max(1, n - 1)
        half = Z95 * math.sqrt(variance / n)
        scale = BANDS[kind]
        score, low, high = mean, max(scale.low, mean - half), min(scale.high, mean + half)
        label = f"CES {score:.1f} of {scale.high} (n={n}, 95% CI {low:.1f} to {high:.1f})"
    insufficient = n < min_responses
    if insufficient:
        label += f", insufficient: fewer than {min_responses} responses"
    return NpsSummary(
        n, top, middle, bottom, None, low, high, mean, insufficient, label, kind, score
    )


def nps_summary(counts: ScoreCounts, min_responses: int = DEFAULT_MIN_RESPONSES) -> NpsSummary:
    n = counts.n
    if n == 0:
        return NpsSummary(0, 0, 0, 0, None, None, None, None, True, "no responses")
    p, d = counts.promoters / n, counts.detractors / n
    score = (p - d) * 100
    variance = max(0.0, p + d - (p - d) ** 2)
    half = Z95 * math.sqrt(variance / n) * 100
    low, high = max(-100.0, score - half), min(100.0, score + half)
    insufficient = n < min_responses
    label = f"NPS {score:.0f} (n={n}, 95% CI {low:.0f} to {high:.0f})"
    if insufficient:
        label += f", insufficient: fewer than {min_responses} responses"
    return NpsSummary(
        n=n,
        promoters=counts.promoters,
        passives=counts.passives,
        detractors=counts.detractors,
        nps=score,
        ci_low=low,
        ci_high=high,
        mean_score=counts.mean,
        insufficient=insufficient,
        label=label,
        score=score,
    )


# --- reports (from aggregates only) ------------------------------------------------------


@dataclass(frozen=True)
class TrendPoint:
    period: str
    summary: NpsSummary


@dataclass(frozen=True)
class BreakdownRow:
    value: str
    summary: NpsSummary


def periods_between(start: date, end: date, granularity: Granularity) -> list[str]:
    """Every day or ISO week from `start` to `end` inclusive, in order."""
    if end < start:
        return []
    if granularity == "day":
        return [(start + timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]
    first = start - timedelta(days=start.weekday())
    return [iso_week(first + timedelta(weeks=i)) for i in range((end - first).days // 7 + 1)]


def trend(
    aggregates: NpsAggregates,
    survey_id: str,
    start: date,
    end: date,
    granularity: Granularity = "week",
    min_responses: int = DEFAULT_MIN_RESPONSES,
    kind: str = "nps",
) -> list[TrendPoint]:
    """The score per day or ISO week (every period in range, empty ones included)."""
    return [
        TrendPoint(
            period,
            summary(aggregates.get(Cell(survey_id, period, OVERALL, "")), kind, min_responses),
        )
        for period in periods_between(start, end, granularity)
    ]


def breakdown(
    aggregates: NpsAggregates,
    survey_id: str,
    dimension: str,
    start: date,
    end: date,
    granularity: Granularity = "week",
    min_responses: int = DEFAULT_MIN_RESPONSES,
    kind: str = "nps",
) -> list[BreakdownRow]:
    """The score per value of one dimension over the whole range, most answers first."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"unknown dimension {dimension!r}: one of {', '.join(DIMENSIONS)}")
    wanted = set(periods_between(start, end, granularity))
    totals: dict[str, ScoreCounts] = {}
    for cell, counts in _cells_of(aggregates, survey_id, dimension):
        if cell.period in wanted:
            totals[cell.value] = totals.get(cell.value, ScoreCounts()) + ScoreCounts(tuple(counts))
    rows = [BreakdownRow(value, summary(c, kind, min_responses)) for value, c in totals.items()]
    return sorted(rows, key=lambda row: (-row.summary.n, row.value))


def _cells_of(
    aggregates: NpsAggregates, survey_id: str, dimension: str
) -> Iterator[tuple[Cell, list[int]]]:
    for cell, counts in aggregates.cells.items():
        if cell.survey_id == survey_id and cell.dimension == dimension:
            yield cell, counts
