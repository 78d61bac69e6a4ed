"""Responses: strict validation, parts merged once, and aggregates equal to a recount."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nudge.domain.nps.score import OVERALL, Cell, NpsAggregates, aggregate, merge_part
from nudge.models.profile import Stage
from nudge.models.survey_responses import (
    MAX_COMMENT_CHARS,
    ResponsePart,
    ResponseState,
    ResponseSubmission,
)

AT = datetime(2026, 3, 10, 12, tzinfo=UTC)
T = int(AT.timestamp())


def submission(**changes: Any) -> dict[str, Any]:
    return {
        "response_id": "r1",
        "prompt_id": "p_1",
        "answered_at": AT.isoformat(),
        "score": 9,
    } | changes


@pytest.mark.parametrize("score", [True, False, 7.0, 7.5, "7", -1, 11, None])
def test_score_is_a_strict_integer_0_to_10(score: object) -> None:
    body = submission(score=score)
    if score is None:
        body["reason"] = None  # nothing at all
    with pytest.raises(ValidationError):
        ResponseSubmission.model_validate(body)


def test_json_score_is_strict_too() -> None:
    with pytest.raises(ValidationError):
        ResponseSubmission.model_validate_json(
            '{"response_id":"r","prompt_id":"p","answered_at":"2026-03-10T12:00:00Z","score":"9"}'
        )
    ok = ResponseSubmission.model_validate_json(
        '{"response_id":"r","prompt_id":"p","answered_at":"2026-03-10T12:00:00Z","score":0}'
    )
    assert ok.score == 0


def test_comment_limits_and_unknown_fields() -> None:
    ResponseSubmission.model_validate(submission(reason="x" * MAX_COMMENT_CHARS))
    with pytest.raises(ValidationError, match="reason"):
        ResponseSubmission.model_validate(submission(reason="x" * (MAX_COMMENT_CHARS + 1)))
    with pytest.raises(ValidationError, match="follow_up"):
        ResponseSubmission.model_validate(submission(follow_up="y" * (MAX_COMMENT_CHARS + 1)))
    with pytest.raises(ValidationError, match="user_id"):
        ResponseSubmission.model_validate(submission(user_id="someone-else"))
    with pytest.raises(ValidationError, match="country"):
        ResponseSubmission.model_validate(submission(country="Netherlands"))


def test_a_comment_alone_is_a_valid_part() -> None:
    body = ResponseSubmission.model_validate(submission(score=None, reason="Too many ads"))
    part = ResponsePart.of(body, "u1", "s", Stage.ACTIVE)
    assert (part.score, part.reason, part.at, part.stage) == (None, "Too many ads", T, Stage.ACTIVE)


def part(response_id: str, at: int = T, score: int | None = None, **fields: Any) -> ResponsePart:
    return ResponsePart(
        user_id="u1",
        survey_id="s",
        prompt_id="p_1",
        response_id=response_id,
        at=at,
        score=score,
        **fields,
    )


def cells(delta: dict[tuple[Cell, int], int]) -> dict[tuple[str, int], int]:
    """The overall day and week cells of a delta."""
    return {
        (cell.period, score): n for (cell, score), n in delta.items() if cell.dimension == OVERALL
    }


def test_score_then_comments_counts_once() -> None:
    state, delta = merge_part(None, part("r1", score=9, platform="ios", stage=Stage.LOYAL))
    assert cells(delta) == {("2026-03-10", 9): 1, ("2026-W11", 9): 1}
    assert len(delta) == 10  # day and week x overall + 4 dimensions
    state, delta = merge_part(state, part("r2", at=T + 30, reason="Live departures"))
    assert delta == {}
    assert (state.score, state.reason, state.platform) == (9, "Live departures", "ios")
    again, delta = merge_part(state, part("r2", at=T + 30, reason="Live departures"))
    assert (again, delta) == (state, {})


def test_changed_score_moves_between_buckets() -> None:
    state, _ = merge_part(None, part("r1", score=6))
    state, delta = merge_part(state, part("r2", at=T + 10, score=9))
    assert cells(delta) == {
        ("2026-03-10", 6): -1,
        ("2026-03-10", 9): 1,
        ("2026-W11", 6): -1,
        ("2026-W11", 9): 1,
    }
    # the older part arriving late changes nothing
    late, delta = merge_part(state, part("r1", score=6))
    assert (late, delta) == (state, {})


def test_comment_before_score_then_score() -> None:
    state, delta = merge_part(None, part("r2", at=T + 5, follow_up="Cheaper fares"))
    assert delta == {}
    state, delta = merge_part(state, part("r1", score=3))
    assert cells(delta)[("2026-03-10", 3)] == 1
    assert state.follow_up == "Cheaper fares"


def test_a_part_of_another_prompt_is_refused() -> None:
    state, _ = merge_part(None, part("r1", score=3))
    other = part("r9", score=3).model_copy(update={"prompt_id": "p_2"})
    with pytest.raises(ValueError, match="another prompt"):
        merge_part(state, other)


# --- property: incremental == recount, whatever the delivery --------------------------------

PROMPTS = [f"p_{i}" for i in range(6)]


@st.composite
def part_streams(draw: st.DrawFn) -> list[ResponsePart]:
    parts = []
    for number in range(draw(st.integers(1, 25))):
        score = draw(st.none() | st.integers(0, 10))
        reason = draw(st.none() | st.sampled_from(["slow", "great trains", "crashes"]))
        if score is None and reason is None:
            reason = "fine"
        parts.append(
            ResponsePart(
                user_id="u1",
                survey_id="s",
                prompt_id=draw(st.sampled_from(PROMPTS)),
                response_id=f"r{number}",
                # a few days, so that a changed score can move across days and weeks
                at=T + draw(st.integers(0, 10 * 86_400)),
                score=score,
                reason=reason,
                platform=draw(st.sampled_from(["ios", "android", None])),
                country=draw(st.sampled_from(["NL", "BE"])),
                stage=draw(st.sampled_from([Stage.ACTIVE, Stage.LOYAL, None])),
            )
        )
    return parts


@settings(max_examples=60, deadline=None)
@given(parts=part_streams(), data=st.data())
def test_incremental_aggregates_equal_a_recount(
    parts: list[ResponsePart], data: st.DataObject
) -> None:
    # deliveries: every part at least once, some twice, in any order
    duplicates = data.draw(st.lists(st.sampled_from(parts), max_size=len(parts)))
    deliveries = data.draw(st.permutations(parts + duplicates))

    states: dict[str, ResponseState] = {}
    incremental = NpsAggregates()
    for delivered in deliveries:
        state, delta = merge_part(states.get(delivered.prompt_id), delivered)
        states[delivered.prompt_id] = state
        incremental.apply(delta)

    # the final raw answers, from the parts in their natural order, merged once each
    final: dict[str, ResponseState] = {}
    for ordered in sorted(parts, key=lambda p: (p.at, p.response_id)):
        final[ordered.prompt_id], _ = merge_part(final.get(ordered.prompt_id), ordered)
    assert states == {k: v.model_copy(update={"parts": states[k].parts}) for k, v in final.items()}
    assert incremental.nonzero() == aggregate(final.values()).nonzero()
    scored = sum(1 for s in final.values() if s.score is not None)
    overall_days = [
        c for c in incremental.cells.items() if c[0].dimension == OVERALL and "W" not in c[0].period
    ]
    assert sum(sum(counts) for _, counts in overall_days) == scored
