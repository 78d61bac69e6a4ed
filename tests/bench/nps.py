"""NPS figures: report latency over a million answers, write units per answer, themes speed.

`run_nps_bench()` returns the lines; `python -m tests.bench.nps` prints them.

Storage plan the write units are modelled on (recommended for the integrator):
  * one response item per prompt (PK USER#<user>, SK NPS#<survey>#<prompt_id>) holding the
    merged ResponseState; written with a version condition, so a retried part cannot apply
    twice;
  * the user's SurveyState item for the survey (pending prompt cleared, answered time);
  * per-day counter items, one per (survey, day, dimension, value) - overall, lifecycle,
    platform, app_version, country - with sparse numeric attributes s0..s10 updated by
    `ADD`; ISO weeks are summed from days at read time (`rollup_weeks`), so answers never
    write week counters.
  The part that brings (or changes) the score writes all of that in one TransactWriteItems
  (exact counts: the counters move only if the response item's version condition holds;
  transactions cost 2x). A comment-only part has an empty aggregate delta: one conditional
  put of the response item, no transaction.
"""

from __future__ import annotations

import random
import statistics
import time
from datetime import date, timedelta
from typing import Any

from nudge.adapters.dynamo_codec import write_units
from nudge.domain.nps.score import (
    DIMENSIONS,
    OVERALL,
    Cell,
    NpsAggregates,
    ScoreCounts,
    breakdown,
    rollup_weeks,
    trend,
)

SEGMENTS = {
    "lifecycle": ["new", "active", "loyal", "at_risk", "dormant", "reactivated"],
    "platform": ["ios", "android"],
    "app_version": [f"5.{i}.0" for i in range(20)],
    "country": ["NL", "BE", "DE", "FR", "GB", "ES", "IT", "PL", "SE", "DK"],
}
SECOND_PART_SHARE = 0.6  # answers whose comments arrive as a second part


def million_response_aggregates(
    total: int = 1_000_000, days: int = 364, start: date = date(2025, 1, 6)
) -> NpsAggregates:
    """A year of one survey held as day cells (each day's answers split over every segment
    value) plus the week cells rolled up from them, as the storage plan reads them."""
    rng = random.Random(8)
    aggregates = NpsAggregates()
    weights = [3, 1, 1, 2, 2, 3, 4, 8, 12, 14, 10]  # a plausible score distribution
    per_day = [total // days + (1 if d < total % days else 0) for d in range(days)]
    for d, n in enumerate(per_day):
        day = (start + timedelta(days=d)).isoformat()
        scores = [0] * 11
        for score in rng.choices(range(11), weights=weights, k=n):
            scores[score] += 1
        aggregates.add_counts(Cell("s", day, OVERALL, ""), ScoreCounts(tuple(scores)))
        for dimension, values in SEGMENTS.items():
            split = [[0] * 11 for _ in values]
            for score, count in enumerate(scores):
                for k in range(len(values)):
                    split[k][score] = count // len(values) + (k < count % len(values))
            for value, counts in zip(values, split, strict=True):
                aggregates.add_counts(Cell("s", day, dimension, value), ScoreCounts(tuple(counts)))
    return aggregates.merge(rollup_weeks(aggregates))


def _report_ms(aggregates: NpsAggregates, runs: int = 5) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        weekly = trend(aggregates, "s", date(2025, 1, 6), date(2026, 1, 4), "week")
        rows = breakdown(aggregates, "s", "lifecycle", date(2025, 1, 6), date(2026, 1, 4), "week")
        samples.append((time.perf_counter() - started) * 1000)
        assert sum(p.summary.n for p in weekly) == sum(r.summary.n for r in rows)
    return statistics.median(samples)


def _s(text: str) -> dict[str, str]:
    return {"S": text}


def _n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def modelled_items() -> dict[str, dict[str, Any]]:
    """Representative items (DynamoDB JSON) of the storage plan, at typical sizes."""
    user = "USER#3f2b9c1e-8d4a-4b7e-9c61-2a5d7e0f4b13"
    prompt = "p_" + "a" * 30
    stamp = {"M": {"at": _n(1_773_144_000), "response_id": _s("r-" + "b" * 34)}}
    scored = {
        "pk": _s(user),
        "sk": _s(f"NPS#nps-after-trip#{prompt}"),
        "score": _n(9),
        "score_set": stamp,
        "locale": _s("nl-NL"),
        "platform": _s("ios"),
        "app_version": _s("5.12.0"),
        "country": _s("NL"),
        "stage": _s("loyal"),
        "parts": _n(1),
        "version": _n(1),
        "expires_at": _n(1_804_680_000),
    }
    commented = dict(scored)
    commented |= {
        "reason": _s("x" * 140),  # a typical one-sentence reason
        "reason_set": stamp,
        "follow_up": _s("y" * 90),
        "follow_up_set": stamp,
        "parts": _n(2),
        "version": _n(2),
    }
    state = {
        "pk": _s(user),
        "sk": _s("SURVEY#nps-after-trip"),
        "prompts": _n(1),
        "last_prompt_id": _s(prompt),
        "last_prompt_at": _n(1_773_140_000),
        "last_answered_at": _n(1_773_144_000),
        "version": _n(3),
    }
    counter = {
        "pk": _s("NPSAGG#nps-after-trip#2026-03-10"),
        "sk": _s("app_version#5.12.0"),
        **{f"s{score}": _n(1234) for score in range(11)},
    }
    return {"response": scored, "response+comments": commented, "state": state, "counter": counter}


def write_units_per_response() -> tuple[float, str]:
    items = modelled_items()
    cells = 1 + len(DIMENSIONS)  # overall + each dimension, day counters only
    score_tx = 2 * (
        write_units(items["response"])
        + write_units(items["state"])
        + cells * write_units(items["counter"])
    )
    comment_put = write_units(items["response+comments"])
    per_response = score_tx + SECOND_PART_SHARE * comment_put
    with_weeks = 2 * (
        write_units(items["response"])
        + write_units(items["state"])
        + 2 * cells * write_units(items["counter"])
    )
    detail = (
        f"score part = one TransactWriteItems of response item + survey state + {cells} day "
        f"counters, 2 x {score_tx // 2} = {score_tx} WCU; comment part = 1 conditional put of "
        f"{comment_put} WCU for {SECOND_PART_SHARE:.0%} of answers; weeks summed from days at "
        f"read time (writing week counters too would make the score part {with_weeks} WCU); "
        f"items: response {_size(items['response+comments'])} B, counter "
        f"{_size(items['counter'])} B"
    )
    return per_response, detail


def _size(item: dict[str, Any]) -> int:
    from nudge.adapters.dynamo_codec import item_size

    return item_size(item)


def _themes_ms() -> tuple[float, int]:
    from nudge.domain.nps.themes import CommentInput, group_comments
    from tests.unit.nps_comments import ALL

    rng = random.Random(3)
    tails = ["", " today", " again", " this week", " on my commute"]
    comments = [
        CommentInput(text + rng.choice(tails), score)
        for _ in range(90)
        for text, score in ALL
        if text
    ]
    group_comments(comments[:10])  # import and warm-up
    started = time.perf_counter()
    group_comments(comments)
    return (time.perf_counter() - started) * 1000, len(comments)


def run_nps_bench() -> list[str]:
    aggregates = million_response_aggregates()
    report_ms = _report_ms(aggregates)
    wcu, detail = write_units_per_response()
    themes_ms, comment_count = _themes_ms()
    return [
        f"nps report: {report_ms:.1f} ms over 1,000,000 responses held as aggregates "
        f"(weekly trend + breakdown by lifecycle; {len(aggregates.cells):,} cells, median of 5)",
        f"nps response ingestion: {wcu:.1f} DynamoDB write units per response (modelled: {detail})",
        f"nps themes: {themes_ms:.0f} ms to group {comment_count:,} comments "
        "(pure Python + snowballstemmer)",
    ]


if __name__ == "__main__":
    for line in run_nps_bench():
        print(line)
