"""CSV export of raw answers: every column, and no formula injection."""

from __future__ import annotations

import csv
import io

from nudge.domain.nps.export import responses_csv, safe_cell
from nudge.models.profile import Stage
from nudge.models.survey_responses import ResponseState, Stamped


def test_formula_cells_are_quoted() -> None:
    for dangerous in ['=HYPERLINK("http://x")', "+1+1", "-2", "@SUM(A1)", "\tx", "\rx"]:
        assert safe_cell(dangerous) == "'" + dangerous
    assert safe_cell("fine = ok") == "fine = ok"
    assert safe_cell(7) == 7
    assert safe_cell(None) == ""


def test_rows_round_trip_through_a_csv_reader() -> None:
    answered = ResponseState(
        prompt_id="p_1",
        user_id="u1",
        survey_id="nps",
        score=3,
        score_set=Stamped(at=1_773_144_000, response_id="r1"),
        reason='=cmd|"/c calc"!A1, and "quotes"\nnew line',
        follow_up="@ me",
        platform="ios",
        country="NL",
        stage=Stage.AT_RISK,
    )
    unscored = ResponseState(prompt_id="p_2", user_id="u2", survey_id="nps", reason="later")
    text = responses_csv([answered, unscored])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["answered_at"] == "2026-03-10T12:00:00Z"
    assert rows[0]["score"] == "3"
    assert rows[0]["category"] == "detractor"
    assert rows[0]["reason"].startswith("'=cmd")
    assert rows[0]["reason"].endswith("new line")
    assert rows[0]["follow_up"] == "'@ me"
    assert rows[0]["lifecycle"] == "at_risk"
    assert "user_id" not in rows[0]
    assert (rows[1]["score"], rows[1]["answered_at"], rows[1]["reason"]) == ("", "", "later")
    with_ids = list(csv.DictReader(io.StringIO(responses_csv([answered], include_user_id=True))))
    assert with_ids[0]["user_id"] == "u1"
    assert responses_csv([]).strip() == ",".join(
        [
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
        ]
    )
