"""In-product NPS, a user's side of a survey: the prompt waiting for them, their survey state,
and their responses (as the app submits them, as stored, and merged into one answer).

The survey config itself is `nudge.models.survey.SurveyConfig`. Times in state and responses
are epoch seconds (like the profile), except `answered_at`, which the app sends as an ISO 8601
timestamp with an offset.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)

from nudge.models.events import EventId
from nudge.models.profile import Stage
from nudge.models.survey import Category, LocaleTag, SurveyKind, category_of

MAX_COMMENT_CHARS = 1_000


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


# --- per-user state ----------------------------------------------------------------------


class PendingPrompt(_Strict):
    """A prompt waiting for the app to show it (GET /v1/me/surveys/next).

    A pure function of (survey, user, trigger event): deriving it again gives the same prompt.
    """

    prompt_id: str
    survey_id: str
    trigger_event_id: str
    triggered_at: int  # when the task was finished (the trigger event's own time)
    expires_at: int


class SurveyState(_Strict):
    """One user's history with one survey (small: it sits next to the profile).

    `last_prompt_any_survey_at` is the user's latest prompt across all surveys (global
    fatigue): the store reads it from the user-level record and fills it in.
    """

    user_id: str
    survey_id: str
    prompts: int = Field(default=0, ge=0, description="Prompts created for this user")
    last_prompt_id: str | None = None
    last_prompt_at: int | None = None
    last_answered_at: int | None = None
    last_dismissed_at: int | None = None
    pending: PendingPrompt | None = None
    last_prompt_any_survey_at: int | None = None


# --- responses ---------------------------------------------------------------------------

Comment = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_COMMENT_CHARS)
]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Platform = Literal["ios", "android", "web"]


class ResponseSubmission(_Strict):
    """Body of POST /v1/surveys/{id}/responses: a whole answer or one part of it.

    Parts of one answer share `prompt_id` (the score first, comments later, in any order);
    `response_id` identifies one submission and a retry reuses it. At least one of score,
    reason and follow_up is required.
    """

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, allow_inf_nan=False)

    response_id: EventId = Field(description="Client-generated id of this submission")
    prompt_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    answered_at: AwareDatetime = Field(description="When the user answered, on the device")
    score: Annotated[StrictInt, Field(ge=0, le=10)] | None = Field(
        default=None,
        description="An integer on the survey's scale: NPS 0-10, CSAT 1-5, CES 1-7 "
        "(true/false, 7.0 or '7' are refused)",
    )
    reason: Comment | None = None
    follow_up: Comment | None = None
    locale: LocaleTag | None = None
    platform: Platform | None = None
    app_version: ShortText | None = None
    country: Country | None = None

    @model_validator(mode="after")
    def _something(self) -> ResponseSubmission:
        if self.score is None and self.reason is None and self.follow_up is None:
            raise ValueError("give a score, a reason or a follow_up")
        return self


class ResponsePart(_Strict):
    """A submission as the service stores and merges it: who, which survey, stage then."""

    user_id: str
    survey_id: str
    response_id: str
    prompt_id: str
    at: int = Field(description="answered_at in epoch seconds (orders the parts)")
    score: Annotated[StrictInt, Field(ge=0, le=10)] | None = None
    reason: Comment | None = None
    follow_up: Comment | None = None
    locale: str | None = None
    platform: str | None = None
    app_version: str | None = None
    country: str | None = None
    stage: Stage | None = Field(default=None, description="Lifecycle stage when answered")
    kind: SurveyKind = "nps"

    @classmethod
    def of(
        cls,
        submission: ResponseSubmission,
        user_id: str,
        survey_id: str,
        stage: Stage | None,
        kind: SurveyKind = "nps",
    ) -> ResponsePart:
        return cls(
            user_id=user_id,
            survey_id=survey_id,
            stage=stage,
            kind=kind,
            at=int(submission.answered_at.timestamp()),
            **submission.model_dump(exclude={"answered_at"}),
        )


class Stamped(_Strict):
    """A field value with the (at, response_id) of the part that set it: latest wins."""

    at: int
    response_id: str


class ResponseState(_Strict):
    """The merged answer to one prompt. Each field keeps the latest part that set it."""

    prompt_id: str
    user_id: str
    survey_id: str
    score: int | None = None
    score_set: Stamped | None = None
    reason: str | None = None
    reason_set: Stamped | None = None
    follow_up: str | None = None
    follow_up_set: Stamped | None = None
    # Segment facts travel with the score (they are what the score is counted under).
    locale: str | None = None
    platform: str | None = None
    app_version: str | None = None
    country: str | None = None
    stage: Stage | None = None
    parts: int = 0  # parts that changed something (for the record)
    kind: SurveyKind = "nps"  # the survey's: which scale the score is on

    @property
    def answered_at(self) -> int | None:
        return self.score_set.at if self.score_set else None

    @property
    def category(self) -> Category | None:
        return None if self.score is None else category_of(self.score, self.kind)
