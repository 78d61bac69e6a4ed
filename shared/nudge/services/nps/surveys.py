"""In-product NPS: prompts from the event pipeline, the app's next survey, answers, dismissals.

Prompts (event_processor)
    `on_events(profile, events, now)` runs after the profile of a chunk of events is saved.
    For each event that triggers an active survey it calls `decide_prompt` and stores a new
    pending prompt with the state's version condition and the user's "last prompt at any
    survey" as read (global fatigue), in one transaction. The prompt id is a hash of (survey,
    user, trigger event): a redelivered event yields the same prompt, which exists already, so
    nothing is written twice. No survey triggered: no read at all. Eligibility segments are
    the campaigns' (inline, or named from the published campaign set, read only when a
    triggered survey has one); a skip for a segment carries the readable reason
    (`PromptDecision.detail`), and a named segment that is not published makes nobody
    eligible, with a warning in the log, never an error.

Answers (surveys_api)
    A submission (the whole answer or one part) is checked (the survey is active, the prompt
    is the caller's latest of that survey), merged into the prompt's ResponseState
    (`merge_part`, latest part wins field by field) and written with the response item's
    version condition; its aggregate delta moves the day counters and the survey state (pending
    cleared, recontact wait started) moves in the same TransactWriteItems. A retry of the same
    submission (`response_id`) changes nothing and is answered as a duplicate; a different
    submission that would change a field another one already set is a conflict (409).

Follow-ups ("outbox")
    The first time an answer is a detractor (0-6) the item is marked `routed` and gets a
    `detractor` action in the same write; the first time it reaches the promoter threshold,
    `promoted` and a `promoter` action. After the write the actions are done - a DetractorJob on
    the detractors queue (detractor_router delivers it), an app event `on_promoter.emit_event`
    on the events queue (deterministic event id: deduped by the processor; campaigns can
    trigger on it) - and taken off the item. If that is interrupted, the next submission for
    the prompt (a client retry) does what is left: each is done at least once, decided once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from nudge.domain.config import DEFAULT_INTEREST_HALF_LIFE_DAYS, CategoryCaps
from nudge.domain.nps.eligibility import (
    ProfileFacts,
    SkipReason,
    SurveyFatigue,
    decide_prompt,
    next_prompt,
    over_budget,
    owns_prompt,
    record_answer,
    record_dismissal,
)
from nudge.domain.nps.score import merge_part
from nudge.models.fatigue import Interruption
from nudge.models.nps_store import (
    DETRACTOR,
    PROMOTER,
    DetractorJob,
    StoredResponse,
    StoredState,
)
from nudge.models.survey import Category, SurveyConfig, SurveyStatus
from nudge.models.survey_responses import (
    PendingPrompt,
    ResponsePart,
    ResponseState,
    ResponseSubmission,
)
from nudge.services.retry import MAX_WRITE_ATTEMPTS, pause_before_retry

if TYPE_CHECKING:
    from nudge.clock import Clock
    from nudge.models.events import IncomingEvent
    from nudge.models.profile import Profile
    from nudge.models.segment import Segment
    from nudge.services.ports import (
        CampaignCatalog,
        EventPublisher,
        FatigueLedger,
        ProfileStore,
        PushQueue,
        SurveyCatalog,
        SurveyStore,
    )

logger = Logger(child=True)
PERIODS = ("day",)  # counters hold days; weeks are summed from them at read time


class SurveyNotFound(LookupError):
    pass


class SurveyPaused(RuntimeError):
    pass


class PromptNotFound(LookupError):
    pass


class ScoreOffScale(ValueError):
    """A score the survey's scale doesn't have (a CSAT answer of 0 or 9)."""


class ResponseConflict(RuntimeError):
    pass


class SurveyBusy(RuntimeError):
    """The same items kept changing under us: the client may retry (503)."""


@dataclass(frozen=True)
class ResponseOutcome:
    response: ResponseState
    duplicate: bool  # nothing changed: a retry, or a part already merged
    routed: bool = False  # this submission queued the detractor ticket

    def public(self) -> dict[str, Any]:
        r = self.response
        return {
            "prompt_id": r.prompt_id,
            "survey_id": r.survey_id,
            "duplicate": self.duplicate,
            "score": r.score,
            "category": r.category.value if r.category else None,
            "has_reason": r.reason is not None,
            "has_follow_up": r.follow_up is not None,
        }


def conflicting_field(before: ResponseState | None, part: ResponsePart) -> str | None:
    """A field another submission already set to a different value (None: no conflict)."""
    if before is None:
        return None
    for name in ("score", "reason", "follow_up"):
        new = getattr(part, name)
        stamp = getattr(before, f"{name}_set")
        if new is None or stamp is None or stamp.response_id == part.response_id:
            continue
        if getattr(before, name) != new:
            return name
    return None


def _log_skip(reason: SkipReason | None, detail: str | None, survey_id: str) -> None:
    """A named segment that is not published is a config problem: say so (a warning).

    Other skips are the normal case and not logged; an ineligible_segment's detail can quote
    the user's attributes, so it stays on the decision, out of the logs.
    """
    if reason is SkipReason.UNKNOWN_SEGMENT:
        logger.warning(
            "survey not asked: its segment is not published",
            survey_id=survey_id,
            reason=reason.value,
            detail=detail,
        )


def _same_state(a: Any, b: Any) -> bool:
    keep = {"last_prompt_any_survey_at"}
    return bool(a.model_dump(exclude=keep) == b.model_dump(exclude=keep))


@dataclass
class SurveyService:
    store: SurveyStore
    catalog: SurveyCatalog
    clock: Clock
    fatigue: SurveyFatigue = field(default_factory=SurveyFatigue)
    detractors: PushQueue | None = None  # DetractorJob messages (detractor_router)
    events: EventPublisher | None = None  # on_promoter.emit_event
    profiles: ProfileStore | None = None  # lifecycle stage at answer time
    segments: CampaignCatalog | None = None  # named segments for eligibility.segment_name
    # EngagementConfig.interest_half_life_days: segments read interests as ingest wrote them
    interest_half_life_days: float = DEFAULT_INTEREST_HALF_LIFE_DAYS
    # The one fatigue budget: a prompt is booked in it under the survey's category, against
    # EngagementConfig.caps in the user's zone (`zone_of`; None: rolling windows).
    budget: FatigueLedger | None = None
    caps: Mapping[str, CategoryCaps] = field(default_factory=dict)
    zone_of: Callable[[Profile], str | None] = lambda _: None

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    # ---- prompts (event_processor) ----
    def on_events(
        self, profile: Profile, events: Sequence[IncomingEvent], now: int
    ) -> list[PendingPrompt]:
        """Create pending prompts for events that trigger an active survey (idempotent)."""
        active = [
            s for _, s in sorted(self.catalog.surveys().items()) if s.status is SurveyStatus.ACTIVE
        ]
        triggered = [
            (event, survey)
            for event in sorted(events, key=lambda e: (e.timestamp, e.event_id))
            for survey in active
            if survey.triggered_by(event.name, event.properties)
        ]
        if not triggered:
            return []
        facts = ProfileFacts.of(profile)
        user_id = profile.user_id
        named = self._named_segments([survey for _, survey in triggered])
        created: list[PendingPrompt] = []
        surveys = self.store.user_surveys(user_id)
        for event, survey in triggered:
            for attempt in range(MAX_WRITE_ATTEMPTS):
                pause_before_retry(attempt)
                stored = surveys.get(user_id, survey.id)
                decision = decide_prompt(
                    survey,
                    stored.state,
                    facts,
                    event,
                    now,
                    self.fatigue,
                    named,
                    interest_half_life_days=self.interest_half_life_days,
                )
                if not decision.created or decision.prompt is None:
                    _log_skip(decision.reason, decision.detail, survey.id)
                    break
                refused = self._over_budget(profile, survey, decision.prompt.prompt_id, now)
                if refused is not None:
                    skipped = over_budget(stored.state, refused)
                    logger.info(
                        "survey prompt not created",
                        survey_id=survey.id,
                        reason=skipped.reason,
                        detail=skipped.detail,
                    )
                    break
                if self.store.create_prompt(
                    decision.state, stored.version, surveys.last_prompt_at, now
                ):
                    created.append(decision.prompt)
                    logger.info(
                        "survey prompt created",
                        survey_id=survey.id,
                        prompt_id=decision.prompt.prompt_id,
                    )
                    states = dict(surveys.states)
                    states[survey.id] = StoredState(decision.state, stored.version + 1)
                    surveys = replace(surveys, states=states, last_prompt_at=now)
                    break
                surveys = self.store.user_surveys(user_id)  # changed meanwhile: decide again
            else:
                raise SurveyBusy(f"survey state of {survey.id!r} kept changing")
        return created

    def _over_budget(
        self, profile: Profile, survey: SurveyConfig, prompt_id: str, now: int
    ) -> str | None:
        """Book the prompt in the user's fatigue budget before it is created (a retry finds it
        booked already): which cap refused it, or None."""
        caps = self.caps.get(survey.category)
        if self.budget is None or caps is None:
            return None
        entry = Interruption(prompt_id, now, survey.category, f"survey:{survey.id}")
        booking = self.budget.book(profile.user_id, entry, caps, self.zone_of(profile), now)
        return booking.detail if booking.status == "refused" else None

    def _named_segments(self, surveys: Sequence[SurveyConfig]) -> Mapping[str, Segment]:
        """The published named segments, read only if a survey's eligibility has a segment."""
        if self.segments is None or all(s.eligibility.audience is None for s in surveys):
            return {}
        return self.segments.current().segments

    # ---- the app ----
    def next_for(self, user_id: str, locale: str | None) -> dict[str, Any] | None:
        """The prompt to show now with its texts in the caller's locale (None: nothing)."""
        now = self._now()
        surveys = self.catalog.surveys()
        best: tuple[PendingPrompt, SurveyConfig] | None = None
        for survey_id, stored in self.store.user_surveys(user_id).states.items():
            config = surveys.get(survey_id)
            if config is None or config.status is not SurveyStatus.ACTIVE:
                continue
            prompt = next_prompt(stored.state, now)
            if prompt and (best is None or prompt.triggered_at > best[0].triggered_at):
                best = (prompt, config)
        if best is None:
            return None
        prompt, config = best
        questions = config.questions_for(locale)
        return {
            "survey_id": config.id,
            "kind": config.kind,
            "scale": {"min": config.scale.low, "max": config.scale.high},
            "prompt_id": prompt.prompt_id,
            "expires_at": datetime.fromtimestamp(prompt.expires_at, UTC).isoformat(),
            "locale": questions.locale or None,
            "questions": {
                "score": questions.score,
                "reason": (
                    {c.value: text for c, text in questions.reason.items()}
                    if questions.reason
                    else None
                ),
                "follow_up": questions.follow_up,
            },
        }

    def _active(self, survey_id: str) -> SurveyConfig:
        config = self.catalog.surveys().get(survey_id)
        if config is None or config.status in (SurveyStatus.DRAFT, SurveyStatus.ARCHIVED):
            raise SurveyNotFound(f"survey_id: no active survey {survey_id!r}")
        if config.status is SurveyStatus.PAUSED:
            raise SurveyPaused(f"survey_id: survey {survey_id!r} is paused; answers are closed")
        return config

    def respond(
        self, user_id: str, survey_id: str, submission: ResponseSubmission
    ) -> ResponseOutcome:
        config = self._active(survey_id)
        stage = None
        if self.profiles is not None:
            profile = self.profiles.get(user_id)
            stage = profile.stage if profile else None
        scale = config.scale
        if submission.score is not None and not scale.low <= submission.score <= scale.high:
            raise ScoreOffScale(
                f"score: {submission.score} is not on the {config.kind} scale "
                f"({scale.low}-{scale.high})"
            )
        part = ResponsePart.of(submission, user_id, survey_id, stage, config.kind)
        return self.apply_part(part, config, check_owner=True)

    def apply_part(
        self, part: ResponsePart, config: SurveyConfig, check_owner: bool = False
    ) -> ResponseOutcome:
        """Merge one part into its prompt's response, counters and survey state at once."""
        now = self._now()
        for attempt in range(MAX_WRITE_ATTEMPTS):
            pause_before_retry(attempt)
            survey_state = self.store.user_surveys(part.user_id).get(part.user_id, part.survey_id)
            if check_owner and not owns_prompt(survey_state.state, part.prompt_id):
                raise PromptNotFound(
                    f"prompt_id: no prompt {part.prompt_id!r} of survey {part.survey_id!r} "
                    "for this user"
                )
            stored = self.store.get_response(part.user_id, part.survey_id, part.prompt_id)
            before = stored.state if stored else None
            if check_owner:
                clash = conflicting_field(before, part)
                if clash:
                    raise ResponseConflict(
                        f"{clash}: prompt {part.prompt_id!r} was already answered by another "
                        "submission (reuse its response_id to retry)"
                    )
            merged, delta = merge_part(before, part, PERIODS)
            new_state = record_answer(survey_state.state, part.prompt_id, part.at)
            state_changed = not _same_state(new_state, survey_state.state)
            actions = set(stored.actions) if stored else set()
            routed = stored.routed if stored else False
            promoted = stored.promoted if stored else False
            newly_routed = False
            if merged.category is Category.DETRACTOR and not routed and config.on_detractor:
                actions.add(DETRACTOR)
                routed = newly_routed = True
            promoter_from = config.promoter_min_score
            if (
                promoter_from is not None
                and not promoted
                and merged.score is not None
                and merged.score >= promoter_from
            ):
                actions.add(PROMOTER)
                promoted = True
            response = StoredResponse(
                merged, stored.version if stored else 0, frozenset(actions), routed, promoted
            )
            if (
                stored is not None
                and merged == before
                and not state_changed
                and (routed, promoted) == (stored.routed, stored.promoted)
            ):
                self._follow_up(stored, config)  # what an interrupted earlier call left
                return ResponseOutcome(merged, duplicate=True)
            if self.store.save_response(
                response,
                response.version,
                delta,
                StoredState(new_state, survey_state.version) if state_changed else None,
                now,
            ):
                self._follow_up(response, config)
                return ResponseOutcome(merged, duplicate=False, routed=newly_routed)
        raise SurveyBusy(f"prompt {part.prompt_id!r} kept changing; retry")

    def _follow_up(self, response: StoredResponse, config: SurveyConfig) -> None:
        state = response.state
        for action in sorted(response.actions):
            if action == DETRACTOR and self.detractors is not None:
                routing = config.on_detractor
                job = DetractorJob(
                    user_id=state.user_id,
                    survey_id=state.survey_id,
                    prompt_id=state.prompt_id,
                    webhook=routing.webhook if routing else None,
                    sns_topic_arn=routing.sns_topic_arn if routing else None,
                    queued_at=self._now(),
                )
                self.detractors.enqueue(job.model_dump_json())
                logger.info(
                    "detractor routed", survey_id=state.survey_id, prompt_id=state.prompt_id
                )
            elif action == PROMOTER and self.events is not None and config.on_promoter:
                self._emit_promoter_event(state, config.on_promoter.emit_event)
            else:
                continue
            self.store.done_action(state.user_id, state.survey_id, state.prompt_id, action)

    def _emit_promoter_event(self, state: ResponseState, name: str) -> None:
        from nudge.models.events import IncomingEvent, QueuedBatch

        assert self.events is not None
        now = self.clock.now()
        at = state.answered_at
        batch = QueuedBatch(
            user_id=state.user_id,
            received_at=now,
            events=[
                IncomingEvent(
                    event_id=f"nps.{state.prompt_id}.promoter",
                    name=name,
                    timestamp=datetime.fromtimestamp(at, UTC) if at else now,
                    properties={
                        "survey_id": state.survey_id,
                        "prompt_id": state.prompt_id,
                        "score": state.score or 0,
                    },
                )
            ],
        )
        if self.events.publish([batch]):
            raise RuntimeError("the promoter event could not be queued")

    def dismiss(self, user_id: str, survey_id: str, prompt_id: str) -> bool:
        """ "Not now": clears the pending prompt, starts the cooldown. False: already done."""
        if self.catalog.surveys().get(survey_id) is None:
            raise SurveyNotFound(f"survey_id: no survey {survey_id!r}")
        now = self._now()
        for attempt in range(MAX_WRITE_ATTEMPTS):
            pause_before_retry(attempt)
            stored = self.store.user_surveys(user_id).get(user_id, survey_id)
            if not owns_prompt(stored.state, prompt_id):
                raise PromptNotFound(
                    f"prompt_id: no prompt {prompt_id!r} of survey {survey_id!r} for this user"
                )
            pending = stored.state.pending
            if pending is None or pending.prompt_id != prompt_id:
                return False  # dismissed, answered or expired already: nothing to do
            updated = record_dismissal(stored.state, prompt_id, now)
            if self.store.save_state(updated, stored.version, now):
                return True
        raise SurveyBusy(f"survey state of {survey_id!r} kept changing; retry")
