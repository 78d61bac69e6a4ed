"""CSV export of raw NPS answers, safe to open in a spreadsheet.

A cell starting with = + - @ (or a tab / carriage return) is read as a formula by Excel,
LibreOffice and Google Sheets: such text cells are prefixed with a single quote (OWASP's
advice against CSV injection). Numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import UTC, datetime

from nudge.models.survey_responses import ResponseState

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

COLUMNS = (
    "answered_at",
    "survey_id",
    "prompt_id",
    "score",
    "category",
    "reason",
    "follow_up",
    "locale",
    "platform",
    "app_version",
    "country",
    "lifecycle",
)


def safe_cell(value: object) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return value
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def responses_csv(states: Iterable[ResponseState], include_user_id: bool = False) -> str:
    """One row per answered prompt (answers without a score are included, score empty).

    `include_user_id` adds the pseudonymous user id (for following up with detractors);
    leave it out for exports shared beyond the team that may contact users.
    """
    columns = (*COLUMNS, "user_id") if include_user_id else COLUMNS
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for state in states:
        at = state.answered_at
        row: dict[str, object] = {
            "answered_at": (
                datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z")
                if at is not None
                else None
            ),
            "survey_id": state.survey_id,
            "prompt_id": state.prompt_id,
            "score": state.score,
            "category": state.category.value if state.category else None,
            "reason": state.reason,
            "follow_up": state.follow_up,
            "locale": state.locale,
            "platform": state.platform,
            "app_version": state.app_version,
            "country": state.country,
            "lifecycle": state.stage.value if state.stage else None,
            "user_id": state.user_id,
        }
        writer.writerow([safe_cell(row[column]) for column in columns])
    return out.getvalue()
