"""What the survey store hands back (records with their versions) and the routing job."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from nudge.models.survey_responses import ResponseState, SurveyState

# Follow-ups decided with a response and done right after it is stored ("outbox"): the item
# keeps them until they are done, so a crash in between is completed by the next submission.
DETRACTOR = "detractor"
PROMOTER = "promoter"


@dataclass(frozen=True)
class StoredState:
    state: SurveyState
    version: int  # the item's version (optimistic concurrency); 0: not stored yet


@dataclass(frozen=True)
class UserSurveys:
    """A user's survey states and their latest prompt at any survey (global fatigue)."""

    states: dict[str, StoredState] = field(default_factory=dict)
    last_prompt_at: int | None = None

    def get(self, user_id: str, survey_id: str) -> StoredState:
        stored = self.states.get(survey_id)
        if stored is None:
            stored = StoredState(SurveyState(user_id=user_id, survey_id=survey_id), 0)
        state = stored.state.model_copy(update={"last_prompt_any_survey_at": self.last_prompt_at})
        return StoredState(state, stored.version)


@dataclass(frozen=True)
class StoredResponse:
    state: ResponseState
    version: int
    actions: frozenset[str] = frozenset()  # follow-ups still to do (DETRACTOR, PROMOTER)
    routed: bool = False  # a detractor ticket was decided for this prompt (at most once)
    promoted: bool = False  # the promoter event was decided for this prompt (at most once)


class DetractorJob(BaseModel):
    """A DetractorsQueue message: which answer to route, and where. `prompt_id` is the
    idempotency key receivers dedupe on (a job may be delivered more than once)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    user_id: str
    survey_id: str
    prompt_id: str
    webhook: str | None = None
    sns_topic_arn: str | None = None
    queued_at: int
