"""SurveyStore: fake vs DynamoDB adapter (versioned states, prompts, responses, counters)."""

from __future__ import annotations

from typing import Any

import pytest

from nudge.adapters.metering import WriteMeter
from nudge.adapters.surveys import DynamoSurveyStore
from nudge.domain.nps.score import Cell
from nudge.models.nps_store import StoredResponse, StoredState
from nudge.models.survey_responses import ResponseState, Stamped, SurveyState
from tests.conftest import START
from tests.fakes.memory import InMemorySurveyStore

pytestmark = pytest.mark.integration
NOW = int(START.timestamp())


def fake() -> InMemorySurveyStore:
    return InMemorySurveyStore()


def adapter(ddb: Any) -> DynamoSurveyStore:
    return DynamoSurveyStore("SurveysTable", WriteMeter(), ddb)


def state(user: str = "ann", survey: str = "s1", prompts: int = 1) -> SurveyState:
    return SurveyState(user_id=user, survey_id=survey, prompts=prompts, last_prompt_at=NOW)


def response(
    prompt: str, at: int, score: int = 9, user: str = "ann", survey: str = "s1"
) -> StoredResponse:
    return StoredResponse(
        ResponseState(
            prompt_id=prompt,
            user_id=user,
            survey_id=survey,
            score=score,
            score_set=Stamped(at=at, response_id=f"r-{prompt}"),
            parts=1,
        ),
        0,
    )


def cell(day: str = "2026-03-02", survey: str = "s1") -> Cell:
    return Cell(survey, day, "all", "all")


def test_create_prompt_conditions(store) -> None:  # type: ignore[no-untyped-def]
    assert store.create_prompt(state(), 0, None, NOW)
    assert not store.create_prompt(state(prompts=9), 0, None, NOW + 1)  # state exists
    assert not store.create_prompt(state("ann", "s2"), 0, None, NOW + 1)  # last prompt moved
    assert not store.create_prompt(state(prompts=2), 1, NOW - 5, NOW + 1)  # wrong read
    mine = store.user_surveys("ann")
    assert mine.last_prompt_at == NOW
    assert mine.states == {"s1": StoredState(state(), 1)}
    assert store.create_prompt(state("ann", "s2"), 0, NOW, NOW + 10)
    again = store.user_surveys("ann")
    assert again.last_prompt_at == NOW + 10 and set(again.states) == {"s1", "s2"}
    assert (
        store.user_surveys("bob").states == {} and store.user_surveys("bob").last_prompt_at is None
    )


def test_save_state_versions(store) -> None:  # type: ignore[no-untyped-def]
    assert not store.save_state(state(), 1, NOW)  # nothing stored at version 1
    assert store.save_state(state(), 0, NOW)
    assert not store.save_state(state(prompts=5), 0, NOW)
    assert store.save_state(state(prompts=2), 1, NOW)
    assert not store.save_state(state(prompts=3), 1, NOW)  # stale
    assert store.user_surveys("ann").states["s1"] == StoredState(state(prompts=2), 2)
    assert store.user_surveys("ann").last_prompt_at is None  # only a prompt moves it


def test_the_stored_state_leaves_the_global_last_prompt_out(store) -> None:  # type: ignore[no-untyped-def]
    with_global = state().model_copy(update={"last_prompt_any_survey_at": NOW - 99})
    assert store.save_state(with_global, 0, NOW)
    assert store.user_surveys("ann").states["s1"].state == state()


def test_save_response_all_or_nothing(store) -> None:  # type: ignore[no-untyped-def]
    store.save_state(state(), 0, NOW)
    first = response("p1", NOW)
    delta = {(cell(), 9): 1}
    stale_state = StoredState(state(prompts=2), 0)  # the state was read before it existed
    assert not store.save_response(first, 0, delta, stale_state, NOW)
    assert store.get_response("ann", "s1", "p1") is None
    assert store.day_counts("s1", "2026-03-01", "2026-03-31").cells == {}
    assert store.save_response(first, 0, delta, StoredState(state(prompts=2), 1), NOW)
    assert store.get_response("ann", "s1", "p1") == StoredResponse(first.state, 1)
    assert store.user_surveys("ann").states["s1"] == StoredState(state(prompts=2), 2)
    assert not store.save_response(first, 0, delta, None, NOW)  # counted once
    changed = StoredResponse(
        first.state.model_copy(update={"score": 3}), 1, frozenset({"detractor"}), routed=True
    )
    assert store.save_response(changed, 1, {(cell(), 9): -1, (cell(), 3): 1}, None, NOW)
    assert store.get_response("ann", "s1", "p1") == StoredResponse(
        changed.state, 2, frozenset({"detractor"}), routed=True
    )
    counts = store.day_counts("s1", "2026-03-01", "2026-03-31").cells
    assert counts == {cell(): [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]}


def test_done_action_keeps_the_version(store) -> None:  # type: ignore[no-untyped-def]
    stored = StoredResponse(response("p1", NOW).state, 0, frozenset({"detractor", "promoter"}))
    store.save_response(stored, 0, {}, None, NOW)
    store.done_action("ann", "s1", "p1", "detractor")
    assert store.get_response("ann", "s1", "p1").actions == frozenset({"promoter"})
    store.done_action("ann", "s1", "p1", "promoter")
    store.done_action("ann", "s1", "p1", "promoter")  # done twice: nothing left to take
    assert store.get_response("ann", "s1", "p1") == StoredResponse(stored.state, 1)


def test_day_counts_by_range_and_over_shards(store) -> None:  # type: ignore[no-untyped-def]
    days = ["2026-03-01", "2026-03-02", "2026-03-03"]
    for i in range(12):  # prompts fall in different counter shards
        day = days[i % 3]
        store.save_response(
            response(f"p{i}", NOW + i, user=f"u{i}"), 0, {(cell(day), 9): 1}, None, NOW
        )
    store.save_response(
        response("x", NOW, survey="s2"), 0, {(cell(days[1], "s2"), 9): 1}, None, NOW
    )
    counts = store.day_counts("s1", "2026-03-02", "2026-03-03").cells
    assert counts == {cell(d): [0] * 9 + [4, 0] for d in days[1:]}
    assert store.day_counts("s1", "2026-04-01", "2026-04-30").cells == {}


def test_recent_responses_newest_first(store) -> None:  # type: ignore[no-untyped-def]
    for i in range(7):
        store.save_response(response(f"p{i}", NOW + 10 * i, user=f"u{i}"), 0, {}, None, NOW)
    store.save_response(response("other", NOW, survey="s2"), 0, {}, None, NOW)
    assert [r.prompt_id for r in store.recent_responses("s1", 3)] == ["p6", "p5", "p4"]
    assert len(store.recent_responses("s1", 100)) == 7
    window = store.recent_responses("s1", 10, since=NOW + 10, until=NOW + 30)
    assert [r.prompt_id for r in window] == ["p3", "p2", "p1"]
    assert [r.prompt_id for r in store.recent_responses("s1", 2, since=NOW + 50)] == ["p6", "p5"]
    assert store.recent_responses("s9", 5) == []


def test_user_responses_oldest_first(store) -> None:  # type: ignore[no-untyped-def]
    store.save_response(response("p2", NOW + 20), 0, {}, None, NOW)
    store.save_response(response("p1", NOW + 10, survey="s2"), 0, {}, None, NOW)
    store.save_response(response("p3", NOW + 30), 0, {}, None, NOW)
    store.save_response(response("p9", NOW, user="bob"), 0, {}, None, NOW)
    assert [r.prompt_id for r in store.user_responses("ann")] == ["p1", "p2", "p3"]


def test_delete_user_keeps_the_anonymous_counters(store) -> None:  # type: ignore[no-untyped-def]
    store.create_prompt(state(), 0, None, NOW)
    store.create_prompt(state("ann", "s2"), 0, NOW, NOW + 1)
    store.save_response(response("p1", NOW), 0, {(cell(), 9): 1}, None, NOW)
    store.create_prompt(state("bob"), 0, None, NOW)
    assert store.delete_user("ann") == 4  # two states, the last-prompt record, a response
    assert store.user_surveys("ann").states == {}
    assert store.user_surveys("ann").last_prompt_at is None
    assert store.get_response("ann", "s1", "p1") is None and store.user_responses("ann") == []
    assert store.day_counts("s1", "2026-03-02", "2026-03-02").cells == {cell(): [0] * 9 + [1, 0]}
    assert store.delete_user("ann") == 0
    assert set(store.user_surveys("bob").states) == {"s1"}
    assert store.create_prompt(state(), 0, None, NOW + 5)  # as if never prompted
