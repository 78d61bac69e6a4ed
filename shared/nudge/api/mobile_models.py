"""What the mobile API answers, every status with its body: the app developers generate their
Swift and Kotlin clients from the mobile OpenAPI document, so an answer missing here is one
their client cannot read. The routes name these in `responses=` (nudge.api.mobile_responses)
and keep returning the services' dicts; `make fuzz` (schemathesis) checks every real answer
against them (`extra="forbid"`: a key a model does not name fails).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nudge.models.device import Category, Platform


class Shape(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")


# --- errors --------------------------------------------------------------------------------


class ErrorBody(Shape):
    """Every error answer: `message` says what is wrong (and names the field)."""

    message: str
    statusCode: int | None = Field(
        default=None,
        description="The status again; absent when API Gateway answers itself (its JWT "
        "authorizer's 401, an unknown path's 404)",
    )


class FieldError(Shape):
    field: str = Field(description="e.g. body.token, query.lat, path.device_id")
    error: str


class InvalidRequest(ErrorBody):
    """A parameter or body field failed validation: `message` names up to three."""

    errors: list[FieldError] | None = Field(default=None, description="every invalid field")


# --- devices and preferences ---------------------------------------------------------------


class DeviceView(Shape):
    """A registered install; the FCM token only by its last characters."""

    device_id: str
    platform: Platform
    app_version: str | None
    locale: str | None
    timezone: str | None
    push_enabled: bool
    created_at: int = Field(description="epoch seconds")
    updated_at: int = Field(description="epoch seconds")
    token_tail: str = Field(description="the token's last 6 characters")


class DeviceList(Shape):
    devices: list[DeviceView]


WallClock = Annotated[
    str,
    Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$", description="HH:MM:SS, local time"),
]


class QuietHoursView(Shape):
    """A daily window in the user's own time zone; it may wrap midnight (22:00-07:00)."""

    start: WallClock
    end: WallClock


class PreferencesView(Shape):
    """Opt-ins per category with the app's defaults filled in: what delivery obeys."""

    categories: dict[Category, bool]
    quiet_hours: QuietHoursView | None = Field(description="null: no quiet hours")
    timezone: str | None = Field(description="IANA zone; null: the device's")


# --- privacy (the admin export and erasure answer the same shapes) -------------------------


class Interest(Shape):
    interest: str
    score: float


class ExportSummary(Shape):
    stage: str | None
    sessions: int
    top_interests: list[Interest]


class SurveyData(Shape):
    states: list[dict[str, Any]]
    responses: list[dict[str, Any]]


class ExportedBroadcast(Shape):
    """A broadcast that reached the user or lists them (never its list: that names others)."""

    broadcast_id: str
    status: Literal["running", "cancelled", "done"]
    template_id: str
    category: str
    created_at: str
    finished_at: str | None
    lists_user: bool = Field(description="their id is in its stored list (a running one)")


class MyData(Shape):
    """One page of everything stored: pass `history_next` back as `history_after`."""

    user_id: str
    profile: dict[str, Any] | None = Field(description="the stored profile (null: none)")
    devices: list[DeviceView]
    preferences: dict[str, Any] | None = Field(description="the stored choices (null: none)")
    summary: ExportSummary | None
    surveys: SurveyData
    deliveries: list[dict[str, Any]] = Field(description="each push's outcome (30 days)")
    broadcasts: list[ExportedBroadcast]
    history: list[dict[str, Any]]
    history_next: str | None = Field(description="null: this was the last page")


class Erasure(Shape):
    profile_erased: bool
    history_records_erased: int
    device_records_erased: int
    survey_records_erased: int
    delivery_records_erased: int
    broadcasts_erased_from: int = Field(description="running broadcasts that listed the caller")


# --- surveys -------------------------------------------------------------------------------


class ReasonQuestions(Shape):
    """One question per band of the score given (CSAT and CES: satisfied/easy, neutral,
    dissatisfied/difficult)."""

    promoter: str
    passive: str
    detractor: str


class SurveyQuestions(Shape):
    score: str
    reason: ReasonQuestions | None
    follow_up: str | None


class ScoreScale(Shape):
    min: int = Field(description="the lowest score: NPS 0, CSAT and CES 1")
    max: int = Field(description="the highest score: NPS 10, CSAT 5, CES 7")


class SurveyPrompt(Shape):
    survey_id: str
    kind: Literal["nps", "csat", "ces"] = Field(description="which question and scale to show")
    scale: ScoreScale
    prompt_id: str = Field(description="send it back with the answer or the dismissal")
    expires_at: str = Field(description="ISO 8601 (UTC); not shown after it")
    locale: str | None = Field(description="the texts' language (null: the default)")
    questions: SurveyQuestions


class ResponseRecorded(Shape):
    prompt_id: str
    survey_id: str
    duplicate: bool = Field(description="true: this response_id was recorded before")
    score: int | None
    category: Literal["promoter", "passive", "detractor"] | None
    has_reason: bool
    has_follow_up: bool


class DismissalRecorded(Shape):
    prompt_id: str
    dismissed: Literal[True]
    duplicate: bool = Field(description="true: dismissed, answered or expired already")
