"""Whether to ask a user an NPS survey now: pure, deterministic, idempotent.

`decide_prompt` runs in the event processor for each event that may be a survey trigger.
Checks, in order (the first that fails is the reason reported):

    paused / inactive     the survey is paused, or a draft / archived
    not_triggered         the event is not one of the survey's triggers
    (duplicate)           the same trigger event was already turned into a prompt: the same
                          prompt is returned with `created=False`, nothing is written;
    duplicate             ... or, once that prompt was answered, dismissed or expired, skipped
    stale_trigger         the event is older than the prompt's time to live
    pending_exists        a prompt for this survey is still waiting to be shown / answered
    max_prompts           the user was prompted `max_prompts_per_user` times already
    recontact             answered less than `recontact_after_days` ago
    dismissed_recently    said "not now" less than `dismiss_cooldown_days` ago
    global_fatigue        prompted for any survey less than `min_days_between_surveys` ago
    ineligible_tenure     first seen less than `min_tenure_days` ago
    ineligible_activity   fewer than `min_events` events
    ineligible_lifecycle  not in one of the survey's lifecycle stages
    ineligible_segment    not in the survey's segment (`detail` says which condition fails)
    unknown_segment       the survey names a segment that is not published: nobody is
                          eligible until it is (a config problem, `detail` names it)
    not_sampled           outside the survey's sample (a stable hash of survey and user)
    fatigue_cap           the user's caps of the survey's `category` are reached today or this
                          week, counting every path that interrupts them (checked by the
                          service as it books the prompt in the user's fatigue ledger)

Sampling is a sha256 bucket of (survey id, user id), not a random draw: a user is in or out
of a survey's sample for good, the same on every Lambda, and raising sample_pct only adds
users. The prompt id is a hash of (survey, user, trigger event id): processing the same
event twice yields the same prompt, and the store's conditional write keeps it single.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from nudge.clock import DAY
from nudge.domain.config import DEFAULT_INTEREST_HALF_LIFE_DAYS
from nudge.domain.profiles.segments import UnknownSegment, explain
from nudge.models.events import IncomingEvent
from nudge.models.profile import Profile, Stage
from nudge.models.segment import Segment
from nudge.models.survey import Eligibility, SurveyConfig, SurveyStatus
from nudge.models.survey_responses import PendingPrompt, SurveyState

SAMPLE_BUCKETS = 10_000  # sample_pct resolution: 0.01 %


class SkipReason(StrEnum):
    PAUSED = "paused"
    INACTIVE = "inactive"
    NOT_TRIGGERED = "not_triggered"
    DUPLICATE = "duplicate"
    STALE_TRIGGER = "stale_trigger"
    PENDING_EXISTS = "pending_exists"
    MAX_PROMPTS = "max_prompts"
    RECONTACT = "recontact"
    DISMISSED_RECENTLY = "dismissed_recently"
    GLOBAL_FATIGUE = "global_fatigue"
    INELIGIBLE_TENURE = "ineligible_tenure"
    INELIGIBLE_ACTIVITY = "ineligible_activity"
    INELIGIBLE_LIFECYCLE = "ineligible_lifecycle"
    INELIGIBLE_SEGMENT = "ineligible_segment"
    UNKNOWN_SEGMENT = "unknown_segment"
    NOT_SAMPLED = "not_sampled"
    FATIGUE_CAP = "fatigue_cap"


class SurveyFatigue(BaseModel):
    """Global survey fatigue (one settings file, across all surveys)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    min_days_between_surveys: int = Field(default=30, ge=0, le=3650)


@dataclass(frozen=True)
class ProfileFacts:
    """What eligibility needs from the profile; segments are evaluated on `profile` itself
    (facts made without one: an empty profile of the user)."""

    first_seen: int | None
    events: int
    stage: Stage | None
    profile: Profile | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, profile: Profile) -> ProfileFacts:
        events = sum(counts.total for counts in profile.counts.values())
        return cls(
            first_seen=profile.first_seen, events=events, stage=profile.stage, profile=profile
        )


@dataclass(frozen=True)
class PromptDecision:
    """`prompt` set: ask (write `state` if `created`); else `reason` says why not.

    `state` is the state to store: on a skip it may differ from the input only by a pending
    prompt that expired and was cleared.
    """

    prompt: PendingPrompt | None
    reason: SkipReason | None
    state: SurveyState
    created: bool = False
    detail: str | None = None  # a readable why (segment reasons)

    @property
    def ask(self) -> bool:
        return self.prompt is not None


def sample_bucket(survey_id: str, user_id: str) -> int:
    """A stable bucket in [0, SAMPLE_BUCKETS) for (survey, user)."""
    digest = hashlib.sha256(f"{survey_id}\x1f{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % SAMPLE_BUCKETS


def in_sample(survey_id: str, user_id: str, sample_pct: float) -> bool:
    return sample_bucket(survey_id, user_id) < round(sample_pct * SAMPLE_BUCKETS / 100)


def prompt_id_for(survey_id: str, user_id: str, trigger_event_id: str) -> str:
    digest = hashlib.sha256(f"{survey_id}\x1f{user_id}\x1f{trigger_event_id}".encode())
    return "p_" + digest.hexdigest()[:30]


def _within(since: int | None, days: int, now: int) -> bool:
    return since is not None and now < since + days * DAY


def segment_skip(
    rules: Eligibility,
    profile: Profile,
    now: int,
    named: Mapping[str, Segment],
    half_life_days: float,
) -> tuple[SkipReason, str] | None:
    """Why the profile is outside the eligibility's segments (None: inside, or none set).

    The campaign evaluator decides (`nudge.domain.profiles.segments.explain`), so a segment
    means the same in a survey as in a campaign. A named segment that is not published makes nobody
    eligible (UNKNOWN_SEGMENT), never an error.
    """
    audience = rules.audience
    if audience is None:
        return None
    try:
        why = explain(audience, profile, now, named, half_life_days=half_life_days)
    except UnknownSegment as missing:
        return SkipReason.UNKNOWN_SEGMENT, f"named segment {missing.args[0]!r} is not published"
    if why is None:
        return None
    return SkipReason.INELIGIBLE_SEGMENT, f"not in the survey's segment: {why}"


def decide_prompt(
    config: SurveyConfig,
    state: SurveyState,
    facts: ProfileFacts,
    event: IncomingEvent,
    now: int,
    fatigue: SurveyFatigue | None = None,
    named: Mapping[str, Segment] | None = None,
    *,
    interest_half_life_days: float = DEFAULT_INTEREST_HALF_LIFE_DAYS,
) -> PromptDecision:
    """Decide whether `event` (the user's, already validated) starts a prompt of `config`.

    `named`: the published named segments (`CampaignSet.segments`), for `segment_name` and
    named references inside an inline segment.
    """
    fatigue = fatigue or SurveyFatigue()

    def skip(
        reason: SkipReason, current: SurveyState = state, detail: str | None = None
    ) -> PromptDecision:
        return PromptDecision(prompt=None, reason=reason, state=current, detail=detail)

    if config.status is SurveyStatus.PAUSED:
        return skip(SkipReason.PAUSED)
    if config.status is not SurveyStatus.ACTIVE:
        return skip(SkipReason.INACTIVE)
    if not config.triggered_by(event.name, event.properties):
        return skip(SkipReason.NOT_TRIGGERED)

    prompt_id = prompt_id_for(config.id, state.user_id, event.event_id)
    if state.pending is not None and state.pending.prompt_id == prompt_id:
        return PromptDecision(prompt=state.pending, reason=None, state=state, created=False)
    if state.last_prompt_id == prompt_id:
        # Already prompted for this event, and since answered, dismissed or expired.
        return skip(SkipReason.DUPLICATE)

    event_at = int(event.timestamp.timestamp())
    expires_at = event_at + config.prompt_ttl_seconds
    if expires_at <= now:
        return skip(SkipReason.STALE_TRIGGER)

    current = state
    if state.pending is not None:
        if state.pending.expires_at > now:
            return skip(SkipReason.PENDING_EXISTS)
        current = state.model_copy(update={"pending": None})
    if current.prompts >= config.max_prompts_per_user:
        return skip(SkipReason.MAX_PROMPTS, current)
    if _within(current.last_answered_at, config.recontact_after_days, now):
        return skip(SkipReason.RECONTACT, current)
    if _within(current.last_dismissed_at, config.dismiss_cooldown_days, now):
        return skip(SkipReason.DISMISSED_RECENTLY, current)
    if _within(current.last_prompt_any_survey_at, fatigue.min_days_between_surveys, now):
        return skip(SkipReason.GLOBAL_FATIGUE, current)

    rules = config.eligibility
    if rules.min_tenure_days and (
        facts.first_seen is None or now - facts.first_seen < rules.min_tenure_days * DAY
    ):
        return skip(SkipReason.INELIGIBLE_TENURE, current)
    if facts.events < rules.min_events:
        return skip(SkipReason.INELIGIBLE_ACTIVITY, current)
    if rules.lifecycle and facts.stage not in rules.lifecycle:
        return skip(SkipReason.INELIGIBLE_LIFECYCLE, current)
    if rules.audience is not None:
        profile = facts.profile or Profile(user_id=state.user_id)
        outside = segment_skip(rules, profile, now, named or {}, interest_half_life_days)
        if outside is not None:
            return skip(outside[0], current, outside[1])
    if not in_sample(config.id, state.user_id, config.sample_pct):
        return skip(SkipReason.NOT_SAMPLED, current)

    prompt = PendingPrompt(
        prompt_id=prompt_id,
        survey_id=config.id,
        trigger_event_id=event.event_id,
        triggered_at=event_at,
        expires_at=expires_at,
    )
    updated = current.model_copy(
        update={
            "pending": prompt,
            "prompts": current.prompts + 1,
            "last_prompt_id": prompt_id,
            "last_prompt_at": now,
            "last_prompt_any_survey_at": now,
        }
    )
    return PromptDecision(prompt=prompt, reason=None, state=updated, created=True)


def over_budget(state: SurveyState, detail: str) -> PromptDecision:
    """A prompt decided for, refused by the user's fatigue budget: `state` stays as it was."""
    return PromptDecision(prompt=None, reason=SkipReason.FATIGUE_CAP, state=state, detail=detail)


def next_prompt(state: SurveyState, now: int) -> PendingPrompt | None:
    """The prompt the app should show now (GET /v1/me/surveys/next), if any."""
    if state.pending is not None and state.pending.expires_at > now:
        return state.pending
    return None


def owns_prompt(state: SurveyState, prompt_id: str) -> bool:
    """Whether a response or dismissal for `prompt_id` may be accepted from this user.

    Only the user's latest prompt of the survey is answerable (a late part for an older one,
    after the user was asked again, is refused).
    """
    return state.last_prompt_id == prompt_id


def record_answer(state: SurveyState, prompt_id: str, at: int) -> SurveyState:
    """The user answered (any part): clears the pending prompt, starts the recontact wait.

    Idempotent and order-tolerant: the latest answer time is kept.
    """
    pending = state.pending
    if pending is not None and pending.prompt_id == prompt_id:
        pending = None
    latest = at if state.last_answered_at is None else max(state.last_answered_at, at)
    return state.model_copy(update={"pending": pending, "last_answered_at": latest})


def record_dismissal(state: SurveyState, prompt_id: str, at: int) -> SurveyState:
    """The user said "not now": clears the pending prompt, starts the dismissal cooldown."""
    pending = state.pending
    if pending is not None and pending.prompt_id == prompt_id:
        pending = None
    latest = at if state.last_dismissed_at is None else max(state.last_dismissed_at, at)
    return state.model_copy(update={"pending": pending, "last_dismissed_at": latest})
