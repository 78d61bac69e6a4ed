"""NPS reports and exports, read from the day counters and a capped, time-ordered Query.

A report never scans: the trend and the breakdown come from the survey's day counter items
(`COUNTER_SHARDS` Queries over the range of days; ISO weeks are summed from days), and the
themes from at most `THEMES_MAX_RESPONSES` most recent responses in the range (a Query on
the responses index, newest first).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from nudge.domain.nps.score import (
    DEFAULT_MIN_RESPONSES,
    DIMENSIONS,
    OVERALL,
    NpsSummary,
    ScoreCounts,
    breakdown,
    rollup_weeks,
    summary,
    trend,
)

if TYPE_CHECKING:
    from nudge.clock import Clock
    from nudge.models.survey import SurveyConfig
    from nudge.services.ports import SurveyStore

THEMES_MAX_RESPONSES = 2_000
EXPORT_MAX_RESPONSES = 50_000
MAX_SINCE_DAYS = 730
Period = Literal["weekly", "daily"]


def _summary(score: NpsSummary) -> dict[str, Any]:
    data = asdict(score)
    for key in ("nps", "ci_low", "ci_high", "mean_score", "score"):
        if data[key] is not None:
            data[key] = round(data[key], 1)
    data["not_enough_responses"] = data.pop("insufficient")
    return data


class NpsReportService:
    def __init__(self, store: SurveyStore, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def window(self, since_days: int, period: Period) -> tuple[date, date]:
        today = self.clock.now().astimezone(UTC).date()
        start = today - timedelta(days=since_days - 1)
        if period == "weekly":
            start -= timedelta(days=start.weekday())  # whole ISO weeks
        return start, today

    def report(
        self,
        config: SurveyConfig,
        period: Period = "weekly",
        by: str | None = None,
        since_days: int = 30,
        min_responses: int = DEFAULT_MIN_RESPONSES,
        with_themes: bool = True,
    ) -> dict[str, Any]:
        if by is not None and by not in DIMENSIONS:
            raise ValueError(f"by: one of {', '.join(DIMENSIONS)}")
        if not 1 <= since_days <= MAX_SINCE_DAYS:
            raise ValueError(f"since: between 1d and {MAX_SINCE_DAYS}d")
        survey_id = config.id
        start, end = self.window(since_days, period)
        days = self.store.day_counts(survey_id, start.isoformat(), end.isoformat())
        granularity: Literal["day", "week"] = "week" if period == "weekly" else "day"
        cells = rollup_weeks(days) if granularity == "week" else days
        total = ScoreCounts()
        for cell, counts in days.cells.items():
            if cell.dimension == OVERALL and start.isoformat() <= cell.period <= end.isoformat():
                total = total + ScoreCounts(tuple(counts))
        kind = config.kind
        points = trend(cells, survey_id, start, end, granularity, min_responses, kind)
        result: dict[str, Any] = {
            "survey_id": survey_id,
            "kind": kind,
            "name": config.name,
            "status": config.status.value,
            "period": period,
            "since": start.isoformat(),
            "until": end.isoformat(),
            "min_responses": min_responses,
            "overall": _summary(summary(total, kind, min_responses)),
            "trend": [{"period": p.period, **_summary(p.summary)} for p in points],
        }
        if by is not None:
            rows = breakdown(cells, survey_id, by, start, end, granularity, min_responses, kind)
            result["by"] = by
            result["breakdown"] = [{"value": r.value, **_summary(r.summary)} for r in rows]
        if with_themes:
            result["themes"] = self.themes(config, start)
        return result

    def themes(self, config: SurveyConfig, start: date) -> dict[str, Any]:
        from nudge.domain.nps.priorities import priorities_as_dicts, rank_themes
        from nudge.domain.nps.themes import commented, group_comments, themes_as_dicts

        since = int(datetime.combine(start, datetime.min.time(), UTC).timestamp())
        recent = self.store.recent_responses(config.id, THEMES_MAX_RESPONSES, since=since)
        comments, owners = commented(recent)
        themes = group_comments(comments, config.themes)
        return {
            "responses_read": len(recent),
            "capped": len(recent) >= THEMES_MAX_RESPONSES,
            "comments": len(comments),
            "themes": themes_as_dicts(themes),
            "priorities": priorities_as_dicts(rank_themes(recent, themes, owners, config.scale)),
        }

    def export_csv(
        self, survey_id: str, since_days: int = 90, include_user_id: bool = False
    ) -> str:
        from nudge.domain.nps.export import responses_csv

        start, _ = self.window(since_days, "daily")
        since = int(datetime.combine(start, datetime.min.time(), UTC).timestamp())
        states = self.store.recent_responses(survey_id, EXPORT_MAX_RESPONSES, since=since)
        return responses_csv(reversed(states), include_user_id=include_user_id)
