"""Who is asked an NPS survey, when: sampling, recontact, dismissal, caps, fatigue, idempotency."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from nudge.clock import DAY
from nudge.domain.nps.eligibility import (
    ProfileFacts,
    PromptDecision,
    SkipReason,
    SurveyFatigue,
    in_sample,
    next_prompt,
    owns_prompt,
    record_answer,
    record_dismissal,
    sample_bucket,
)
from nudge.models.events import IncomingEvent
from nudge.models.profile import Attribute, NameCounts, Profile, Stage
from nudge.models.segment import Segment
from nudge.models.survey import SurveyConfig
from nudge.models.survey_responses import SurveyState

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
T = int(NOW.timestamp())


NO_FATIGUE = SurveyFatigue(min_days_between_surveys=0)


def decide_prompt(
    config: SurveyConfig,
    current: SurveyState,
    profile_facts: ProfileFacts,
    event: IncomingEvent,
    now: int,
    fatigue: SurveyFatigue = NO_FATIGUE,
    named: Mapping[str, Segment] | None = None,
) -> PromptDecision:
    """Global fatigue off unless a test sets it: one survey's rules, seen on their own."""
    from nudge.domain.nps.eligibility import decide_prompt as decide

    return decide(config, current, profile_facts, event, now, fatigue, named)


def survey(**changes: Any) -> SurveyConfig:
    fields: dict[str, Any] = {
        "id": "nps-after-trip",
        "status": "active",
        "trigger": {"event": "trip_completed"},
        "eligibility": {"min_tenure_days": 7, "min_events": 3, "lifecycle": ["active", "loyal"]},
        "sample_pct": 100,
        "recontact_after_days": 90,
        "dismiss_cooldown_days": 14,
        "max_prompts_per_user": 3,
        "prompt_ttl": "3d",
        "questions": {"score": "How likely?"},
    }
    return SurveyConfig.model_validate(fields | changes)


def facts(**changes: Any) -> ProfileFacts:
    values: dict[str, Any] = {"first_seen": T - 30 * DAY, "events": 10, "stage": Stage.ACTIVE}
    return ProfileFacts(**(values | changes))


def trip(event_id: str = "e1", at: datetime = NOW, name: str = "trip_completed") -> IncomingEvent:
    return IncomingEvent(event_id=event_id, name=name, timestamp=at)


def state(**changes: Any) -> SurveyState:
    return SurveyState(user_id="u1", survey_id="nps-after-trip", **changes)


def test_eligible_user_is_prompted_with_expiry_and_state() -> None:
    decision = decide_prompt(survey(), state(), facts(), trip(), T)
    assert decision.ask
    assert decision.created
    assert decision.prompt is not None
    assert decision.prompt.expires_at == T + 3 * DAY
    assert decision.prompt.prompt_id.startswith("p_")
    assert decision.state.pending == decision.prompt
    assert decision.state.prompts == 1
    assert decision.state.last_prompt_any_survey_at == T
    assert next_prompt(decision.state, T + DAY) == decision.prompt
    assert next_prompt(decision.state, T + 3 * DAY) is None


def test_same_trigger_twice_gives_the_same_prompt_and_no_second_one() -> None:
    first = decide_prompt(survey(), state(), facts(), trip(), T)
    again = decide_prompt(survey(), first.state, facts(), trip(), T + 60)
    assert again.ask
    assert not again.created
    assert again.prompt == first.prompt
    assert again.state == first.state
    # a fresh decision from the original state (a lost write) derives the same id
    assert decide_prompt(survey(), state(), facts(), trip(), T + 60).prompt == first.prompt
    # once answered, the redelivered event is a duplicate, not a new prompt
    assert first.prompt is not None
    answered = record_answer(first.state, first.prompt.prompt_id, T + 120)
    late = decide_prompt(survey(), answered, facts(), trip(), T + 300)
    assert (late.ask, late.reason) == (False, SkipReason.DUPLICATE)


def test_another_trigger_while_pending_is_skipped() -> None:
    first = decide_prompt(survey(), state(), facts(), trip("e1"), T)
    second = decide_prompt(survey(), first.state, facts(), trip("e2"), T + 60)
    assert second.reason is SkipReason.PENDING_EXISTS


def test_expired_pending_is_cleared_and_counts_as_a_prompt() -> None:
    first = decide_prompt(survey(), state(), facts(), trip("e1"), T)
    later = T + 4 * DAY
    second = decide_prompt(
        survey(), first.state, facts(), trip("e2", NOW + timedelta(days=4)), later
    )
    assert second.created
    assert second.state.prompts == 2


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        ("paused", SkipReason.PAUSED),
        ("draft", SkipReason.INACTIVE),
        ("archived", SkipReason.INACTIVE),
    ],
)
def test_only_active_surveys_prompt(status: str, reason: SkipReason) -> None:
    assert decide_prompt(survey(status=status), state(), facts(), trip(), T).reason is reason


def test_other_events_and_stale_triggers_are_skipped() -> None:
    assert decide_prompt(survey(), state(), facts(), trip(name="x"), T).reason is (
        SkipReason.NOT_TRIGGERED
    )
    old = trip(at=NOW - timedelta(days=3))
    assert decide_prompt(survey(), state(), facts(), old, T).reason is SkipReason.STALE_TRIGGER


def test_recontact_after_an_answer() -> None:
    answered = state(last_answered_at=T - 89 * DAY, prompts=1, last_prompt_id="p_old")
    assert decide_prompt(survey(), answered, facts(), trip(), T).reason is SkipReason.RECONTACT
    answered = state(last_answered_at=T - 90 * DAY, prompts=1, last_prompt_id="p_old")
    assert decide_prompt(survey(), answered, facts(), trip(), T).created


def test_dismissal_cooldown() -> None:
    first = decide_prompt(survey(), state(), facts(), trip("e1"), T)
    assert first.prompt is not None
    dismissed = record_dismissal(first.state, first.prompt.prompt_id, T + 60)
    assert dismissed.pending is None
    later = T + 13 * DAY
    event = trip("e2", NOW + timedelta(days=13))
    assert decide_prompt(survey(), dismissed, facts(), event, later).reason is (
        SkipReason.DISMISSED_RECENTLY
    )
    later = T + 14 * DAY + 60
    event = trip("e3", NOW + timedelta(days=14, seconds=60))
    assert decide_prompt(survey(), dismissed, facts(), event, later).created


def test_max_prompts_per_user() -> None:
    current = state()
    asked = 0
    for day in range(0, 40, 5):  # triggers every 5 days, each prompt expiring unanswered
        when = NOW + timedelta(days=day)
        decision = decide_prompt(survey(), current, facts(), trip(f"e{day}", when), T + day * DAY)
        current = decision.state
        asked += decision.created
        if not decision.ask:
            assert decision.reason is SkipReason.MAX_PROMPTS
    assert asked == 3


def test_global_fatigue_across_surveys() -> None:
    fatigue = SurveyFatigue(min_days_between_surveys=30)
    recent = state(last_prompt_any_survey_at=T - 29 * DAY)
    assert decide_prompt(survey(), recent, facts(), trip(), T, fatigue).reason is (
        SkipReason.GLOBAL_FATIGUE
    )
    assert decide_prompt(
        survey(), recent, facts(), trip(), T, SurveyFatigue(min_days_between_surveys=7)
    ).created


@pytest.mark.parametrize(
    ("profile_facts", "reason"),
    [
        ({"first_seen": T - 6 * DAY}, SkipReason.INELIGIBLE_TENURE),
        ({"first_seen": None}, SkipReason.INELIGIBLE_TENURE),
        ({"events": 2}, SkipReason.INELIGIBLE_ACTIVITY),
        ({"stage": Stage.NEW}, SkipReason.INELIGIBLE_LIFECYCLE),
        ({"stage": None}, SkipReason.INELIGIBLE_LIFECYCLE),
    ],
)
def test_eligibility(profile_facts: dict[str, Any], reason: SkipReason) -> None:
    assert decide_prompt(survey(), state(), facts(**profile_facts), trip(), T).reason is reason


def test_profile_facts_from_the_profile() -> None:
    profile = Profile(
        user_id="u1",
        first_seen=T - DAY,
        stage=Stage.LOYAL,
        counts={"a": NameCounts(total=2), "b": NameCounts(total=5)},
    )
    assert ProfileFacts.of(profile) == ProfileFacts(T - DAY, 7, Stage.LOYAL)


def test_sampling_is_stable_and_accurate() -> None:
    users = [f"user-{i}" for i in range(20_000)]
    sampled = [u for u in users if in_sample("nps-after-trip", u, 20)]
    assert abs(len(sampled) / len(users) - 0.20) < 0.01  # 3 sigma is 0.0085
    assert sampled == [u for u in users if in_sample("nps-after-trip", u, 20)]
    # raising the rate only adds users; another survey samples other users
    assert set(sampled) <= {u for u in users if in_sample("nps-after-trip", u, 30)}
    other = {u for u in users if in_sample("nps-other", u, 20)}
    assert abs(len(other & set(sampled)) / len(users) - 0.04) < 0.01
    assert sample_bucket("nps-after-trip", "user-1") == 2474  # pinned: sha256, not hash()
    assert not any(in_sample("s", u, 0) for u in users[:1000])
    assert all(in_sample("s", u, 100) for u in users[:1000])


def test_sampled_out_users_are_skipped() -> None:
    config = survey(sample_pct=20)
    outcomes = {
        decide_prompt(
            config, state().model_copy(update={"user_id": f"u{i}"}), facts(), trip(), T
        ).reason
        for i in range(50)
    }
    assert outcomes == {None, SkipReason.NOT_SAMPLED}


def test_answers_are_accepted_for_the_latest_prompt_only() -> None:
    first = decide_prompt(survey(), state(), facts(), trip(), T)
    assert first.prompt is not None
    assert owns_prompt(first.state, first.prompt.prompt_id)
    assert not owns_prompt(first.state, "p_someone_else")
    once = record_answer(first.state, first.prompt.prompt_id, T + 100)
    assert record_answer(once, first.prompt.prompt_id, T + 50) == once  # reordered part


# --- segments: the campaigns' model and evaluator --------------------------------------------


def member(plan: str = "pro", **changes: Any) -> ProfileFacts:
    """Facts of an otherwise eligible user whose profile has the attribute `plan`."""
    fields: dict[str, Any] = {
        "user_id": "u1",
        "first_seen": T - 30 * DAY,
        "stage": Stage.ACTIVE,
        "counts": {"trip_completed": NameCounts(total=10)},
        "attributes": {"plan": Attribute(value=plan, at=T - DAY)},
    }
    return ProfileFacts.of(Profile(**(fields | changes)))


PAYING = {"attributes": {"plan": ["pro", "team"]}}
NAMED = {"paying": Segment.model_validate(PAYING)}


def segment_survey(**eligibility: Any) -> SurveyConfig:
    return survey(eligibility={"min_events": 3, **eligibility})


def test_inline_segment_member_is_asked() -> None:
    decision = decide_prompt(segment_survey(segment=PAYING), state(), member("pro"), trip(), T)
    assert decision.created and decision.reason is None and decision.detail is None


def test_inline_segment_outsider_is_skipped_with_a_readable_reason() -> None:
    decision = decide_prompt(segment_survey(segment=PAYING), state(), member("free"), trip(), T)
    assert not decision.ask
    assert decision.reason is SkipReason.INELIGIBLE_SEGMENT
    assert decision.detail == "not in the survey's segment: attribute plan is 'free'"
    assert decision.state == state()  # nothing to store


def test_inline_segment_uses_the_campaign_conditions() -> None:
    recent = segment_survey(segment={"behavior": {"event": "trip_completed", "count_gte": 2}})
    facts_ = member(counts={"trip_completed": NameCounts(total=10, days={T // DAY: 1})})
    decision = decide_prompt(recent, state(), facts_, trip(), T)
    assert decision.reason is SkipReason.INELIGIBLE_SEGMENT
    assert decision.detail == (
        "not in the survey's segment: trip_completed 1x in 30d, needs at least 2"
    )


def test_named_segment_from_the_published_set() -> None:
    config = segment_survey(segment_name="paying")
    assert decide_prompt(config, state(), member("team"), trip(), T, named=NAMED).created
    out = decide_prompt(config, state(), member("free"), trip(), T, named=NAMED)
    assert out.reason is SkipReason.INELIGIBLE_SEGMENT
    assert out.detail == "not in the survey's segment: segment paying: attribute plan is 'free'"


def test_named_and_inline_segment_must_both_hold() -> None:
    config = segment_survey(segment_name="paying", segment={"lifecycle": ["loyal"]})
    out = decide_prompt(config, state(), member("pro"), trip(), T, named=NAMED)
    assert out.reason is SkipReason.INELIGIBLE_SEGMENT
    assert out.detail == "not in the survey's segment: lifecycle is active, not loyal"
    loyal = member("pro", stage=Stage.LOYAL)
    assert decide_prompt(config, state(), loyal, trip(), T, named=NAMED).created


@pytest.mark.parametrize(
    "eligibility",
    [
        {"segment_name": "paying"},
        {"segment": {"any": [{"segment": "paying"}, {"lifecycle": ["loyal"]}]}},
    ],
)
def test_a_missing_named_segment_makes_nobody_eligible_without_raising(
    eligibility: dict[str, Any],
) -> None:
    config = segment_survey(**eligibility)
    for named in (None, {}, {"other": Segment()}):
        decision = decide_prompt(config, state(), member("pro"), trip(), T, named=named)
        assert not decision.ask
        assert decision.reason is SkipReason.UNKNOWN_SEGMENT
        assert decision.detail == "named segment 'paying' is not published"


def test_segment_is_checked_after_the_cheaper_rules() -> None:
    config = segment_survey(segment_name="paying")  # not published: would be unknown_segment
    few = decide_prompt(config, state(), facts(events=1), trip(), T)
    assert few.reason is SkipReason.INELIGIBLE_ACTIVITY and few.detail is None


def test_facts_without_a_profile_meet_segments_as_an_empty_profile() -> None:
    decision = decide_prompt(segment_survey(segment=PAYING), state(), facts(), trip(), T)
    assert decision.reason is SkipReason.INELIGIBLE_SEGMENT
    assert decision.detail == "not in the survey's segment: attribute plan is None"
    assert decide_prompt(segment_survey(segment={}), state(), facts(), trip(), T).created


def test_profile_facts_carry_the_profile_for_segments() -> None:
    facts_ = member("pro")
    assert facts_.profile is not None and facts_.profile.user_id == "u1"
    assert facts_ == ProfileFacts(facts_.first_seen, facts_.events, facts_.stage)
