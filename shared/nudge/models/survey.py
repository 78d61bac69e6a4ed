"""In-product surveys: the config marketers write, and the bands of a score.

Three kinds share every rule (eligibility, sampling, recontact, fatigue, routing, erasure):
NPS (0-10, "How likely are you to recommend..."), CSAT (1-5, "How satisfied...") and CES
(1-7, "How easy..."). Each kind's scale splits into the same three bands, named after NPS's:
promoter (NPS 9-10, CSAT 4-5 satisfied, CES 5-7 easy), passive (7-8, 3, 4) and detractor
(0-6, 1-2, 1-3); a detractor's answer is routed in real time whatever the kind.

The config is YAML validated by `nudge.configfiles.load_config(text, SurveyConfig, source)`,
so every problem names the file, the line and the field. `survey_json_schema()` is the JSON
schema editors and CI can check configs against. A user's survey state and their responses
are in `nudge.models.survey_responses`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from nudge.clock import parse_duration
from nudge.models.events import EventName, PropertyKey, Scalar
from nudge.models.profile import Stage
from nudge.models.segment import Segment, SegmentName
from nudge.models.webhook_targets import check_url, local_targets_allowed

MAX_QUESTION_CHARS = 300

SurveyId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
]
QuestionText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS)
]
LocaleTag = Annotated[
    str,
    StringConstraints(
        min_length=2, max_length=35, pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$"
    ),
]
ThemeName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
SNS_TOPIC_ARN = re.compile(
    r"^arn:aws[a-z\-]*:sns:[a-z0-9\-]+:\d{12}:[A-Za-z0-9_\-]{1,256}(\.fifo)?$"
)


class SurveyStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class Category(StrEnum):
    """A score's band: NPS promoters 9-10, passives 7-8, detractors 0-6 (CSAT and CES: see
    `BANDS`)."""

    PROMOTER = "promoter"
    PASSIVE = "passive"
    DETRACTOR = "detractor"


SurveyKind = Literal["nps", "csat", "ces"]


class Scale(NamedTuple):
    low: int  # the lowest score
    high: int  # the highest
    passive_from: int  # the first score of the middle band
    promoter_from: int  # the first score of the top band


BANDS: dict[str, Scale] = {
    "nps": Scale(0, 10, 7, 9),
    "csat": Scale(1, 5, 3, 4),  # 4-5 satisfied, 3 neutral, 1-2 dissatisfied
    "ces": Scale(1, 7, 4, 5),  # 5-7 easy, 4 neutral, 1-3 difficult
}


def category_of(score: int, kind: str = "nps") -> Category:
    scale = BANDS[kind]
    if not scale.low <= score <= scale.high:
        raise ValueError(f"score {score} is outside {scale.low}-{scale.high}")
    if score >= scale.promoter_from:
        return Category.PROMOTER
    if score >= scale.passive_from:
        return Category.PASSIVE
    return Category.DETRACTOR


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


# --- config ------------------------------------------------------------------------------


def _same(actual: Any, wanted: Any) -> bool:
    """Equality for property filters; a bool never equals a number (True == 1 in Python)."""
    if isinstance(actual, bool) or isinstance(wanted, bool):
        return type(actual) is type(wanted) and actual == wanted
    return bool(actual == wanted)


class Trigger(_Strict):
    """An event marking a finished task; `properties` must all match (a list: any of)."""

    event: EventName = Field(description="Event name, e.g. trip_completed")
    properties: dict[PropertyKey, Scalar | list[Scalar]] = Field(
        default_factory=dict, max_length=20, description="Property filters, all must match"
    )

    def matches(self, name: str, properties: dict[str, Any]) -> bool:
        if name != self.event:
            return False
        for key, wanted in self.properties.items():
            if key not in properties:
                return False
            options = wanted if isinstance(wanted, list) else [wanted]
            if not any(_same(properties[key], option) for option in options):
                return False
        return True


class Eligibility(_Strict):
    """Who may be asked. `segment` is an audience written as in campaigns, `segment_name` a
    named segment from a segments file; given both, the user must be in both."""

    # Segments are the campaigns' own model, evaluated by the campaigns' evaluator
    # (nudge.domain.profiles.segments), so a segment means the same thing everywhere.

    min_tenure_days: int = Field(default=0, ge=0, le=3650, description="Days since first seen")
    min_events: int = Field(default=0, ge=0, description="Events recorded for the user")
    lifecycle: list[Stage] = Field(
        default_factory=list, description="Lifecycle stages that may be asked; empty: any"
    )
    segment: Segment | None = Field(
        default=None, description="An audience, as in campaigns: only its members are asked"
    )
    segment_name: SegmentName | None = Field(
        default=None, description="A named segment (segments file): only its members are asked"
    )

    @model_validator(mode="before")
    @classmethod
    def _segment_by_name(cls, data: Any) -> Any:
        """`segment: <name>` (the field's first, reserved form) means `segment_name: <name>`."""
        if isinstance(data, dict) and isinstance(data.get("segment"), str):
            if data.get("segment_name") is not None:
                raise ValueError(
                    "segment: a name here is short for segment_name, which is given too; "
                    "write the audience inline under segment, or keep only segment_name"
                )
            data = {**data, "segment_name": data["segment"]}
            del data["segment"]
        return data

    @cached_property
    def audience(self) -> Segment | None:
        """Both segment conditions as one campaign Segment (None: no segment condition).

        Built once per config, so the segment evaluator's per-object compile cache holds.
        """
        if self.segment is None and self.segment_name is None:
            return None
        if self.segment_name is None:
            return self.segment
        if self.segment is None:
            return Segment(segment=self.segment_name)
        return Segment(segment=self.segment_name, all=[self.segment])

    def segment_names(self) -> set[str]:
        """Every named segment the eligibility refers to (also inside the inline segment)."""
        audience = self.audience
        return audience.segment_names() if audience is not None else set()


class ReasonByCategory(_Strict):
    promoter: QuestionText
    passive: QuestionText
    detractor: QuestionText


class Questions(_Strict):
    score: QuestionText = Field(
        description="The score question: NPS 0-10, CSAT 1-5 (How satisfied...), "
        "CES 1-7 (How easy...)"
    )
    reason: QuestionText | ReasonByCategory | None = Field(
        default=None, description="The open question: one text, or one per NPS category"
    )
    follow_up: QuestionText | None = None


class PartialReason(_Strict):
    promoter: QuestionText | None = None
    passive: QuestionText | None = None
    detractor: QuestionText | None = None


class QuestionOverrides(_Strict):
    """One locale's texts; anything left out falls back to the language, then the default."""

    score: QuestionText | None = None
    reason: QuestionText | PartialReason | None = None
    follow_up: QuestionText | None = None


class ResolvedQuestions(BaseModel):
    """The texts to show for one locale (see `SurveyConfig.questions_for`)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    locale: str
    score: str
    reason: dict[Category, str] | None  # one text per category (the same text when shared)
    follow_up: str | None


class DetractorRouting(_Strict):
    """Where a detractor's answer is sent in real time (at least one destination)."""

    # A webhook must be https to a public host (in a Lambda, loopback, private and link-local
    # addresses are refused: nudge.models.webhook_targets); detractor_router checks again what
    # the name resolves to before each call, and signs every ticket in AWS.

    webhook: Annotated[str, Field(max_length=2048)] | None = None
    sns_topic_arn: str | None = None

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        return None if value is None else check_url(value, local_targets_allowed())

    @field_validator("sns_topic_arn")
    @classmethod
    def _arn(cls, value: str | None) -> str | None:
        if value is not None and not SNS_TOPIC_ARN.match(value):
            raise ValueError("not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
        return value

    @model_validator(mode="after")
    def _one_destination(self) -> DetractorRouting:
        if self.webhook is None and self.sns_topic_arn is None:
            raise ValueError("give a webhook, an sns_topic_arn, or both")
        return self


class PromoterAction(_Strict):
    """After a promoter's answer, emit an app event (e.g. to show the store review prompt)."""

    emit_event: EventName
    min_score: int | None = Field(
        default=None, ge=0, le=10, description="Default: the kind's top band (NPS 9, CSAT 4, CES 5)"
    )


class PinnedTheme(_Strict):
    name: ThemeName
    keywords: list[Annotated[str, StringConstraints(min_length=1, max_length=60)]] = Field(
        min_length=1, max_length=50, description="A comment mentioning any keyword belongs here"
    )


class ThemesConfig(_Strict):
    pin: list[PinnedTheme] = Field(default_factory=list, max_length=30)
    rename: dict[str, ThemeName] = Field(
        default_factory=dict, description="Generated theme label (or its first keyword) -> name"
    )


class SurveyConfig(_Strict):
    """One survey (NPS, CSAT or CES), as marketers write it in YAML."""

    id: SurveyId
    kind: SurveyKind = Field(default="nps", description="nps (0-10), csat (1-5) or ces (1-7)")
    name: str | None = Field(default=None, max_length=200)
    status: SurveyStatus = SurveyStatus.DRAFT
    trigger: list[Trigger] = Field(
        min_length=1, max_length=20, description="One trigger or a list: any of them fires"
    )
    eligibility: Eligibility = Field(default_factory=Eligibility)
    sample_pct: float = Field(default=100, ge=0, le=100, allow_inf_nan=False)
    recontact_after_days: int = Field(default=90, ge=0, le=3650, description="After an answer")
    dismiss_cooldown_days: int = Field(default=14, ge=0, le=3650, description="After 'not now'")
    max_prompts_per_user: int = Field(default=3, ge=1, le=1000)
    prompt_ttl: str = Field(default="3d", description="How long a pending prompt stays valid")
    category: Literal["marketing", "product_updates", "internal"] = Field(
        default="product_updates",
        description="The message category whose caps (per local day and week) a prompt counts in",
    )
    questions: Questions
    localization: dict[LocaleTag, QuestionOverrides] = Field(
        default_factory=dict, validation_alias=AliasChoices("localization", "localisation")
    )
    on_detractor: DetractorRouting | None = None
    on_promoter: PromoterAction | None = None
    themes: ThemesConfig = Field(default_factory=ThemesConfig)

    @field_validator("trigger", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @field_validator("prompt_ttl")
    @classmethod
    def _ttl(cls, value: str) -> str:
        ttl = parse_duration(value)
        if not timedelta(minutes=1) <= ttl <= timedelta(days=90):
            raise ValueError("prompt_ttl must be between 1m and 90d")
        return value

    @field_validator("localization")
    @classmethod
    def _normalise_locales(cls, value: dict[str, QuestionOverrides]) -> dict[str, Any]:
        normalised = {normalise_locale(key): texts for key, texts in value.items()}
        if len(normalised) != len(value):
            raise ValueError("the same locale is given twice (compare case and - vs _)")
        return normalised

    @model_validator(mode="after")
    def _promoter_score_on_the_scale(self) -> SurveyConfig:
        scale = BANDS[self.kind]
        least = None if self.on_promoter is None else self.on_promoter.min_score
        if least is not None and not scale.promoter_from <= least <= scale.high:
            raise ValueError(
                f"on_promoter.min_score: {least} is not a top score of a "
                f"{self.kind} survey ({scale.promoter_from}-{scale.high})"
            )
        return self

    @property
    def scale(self) -> Scale:
        return BANDS[self.kind]

    @property
    def promoter_min_score(self) -> int | None:
        """The score from which on_promoter fires (None: no promoter action)."""
        action = self.on_promoter
        if action is None:
            return None
        return action.min_score if action.min_score is not None else self.scale.promoter_from

    @property
    def prompt_ttl_seconds(self) -> int:
        return int(parse_duration(self.prompt_ttl).total_seconds())

    def triggered_by(self, name: str, properties: dict[str, Any]) -> bool:
        return any(t.matches(name, properties) for t in self.trigger)

    def questions_for(self, locale: str | None) -> ResolvedQuestions:
        """Texts for `locale`, falling back field by field: nl-BE -> nl -> the default."""
        chain: list[QuestionOverrides] = []
        tag = normalise_locale(locale) if locale else ""
        while tag:
            if tag in self.localization:
                chain.append(self.localization[tag])
            tag = tag.rpartition("-")[0]
        base = self.questions

        def pick(field: Literal["score", "follow_up"]) -> str | None:
            for overrides in chain:
                text = getattr(overrides, field)
                if text is not None:
                    return str(text)
            return getattr(base, field)

        reason: dict[Category, str] | None = None
        if base.reason is not None:
            reason = {}
            for category in Category:
                text: str | None = None
                for overrides in chain:
                    given = overrides.reason
                    if isinstance(given, str):
                        text = given
                    elif given is not None:
                        text = getattr(given, category.value)
                    if text is not None:
                        break
                if text is None:
                    text = (
                        base.reason
                        if isinstance(base.reason, str)
                        else getattr(base.reason, category.value)
                    )
                reason[category] = text
        return ResolvedQuestions(
            locale=normalise_locale(locale) if locale else "",
            score=pick("score") or base.score,
            reason=reason,
            follow_up=pick("follow_up"),
        )


def normalise_locale(tag: str) -> str:
    return tag.strip().replace("_", "-").lower()


def survey_json_schema() -> dict[str, Any]:
    """JSON schema of a survey config file (for editors and CI; the integrator writes it)."""
    schema = SurveyConfig.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Nudge survey config (NPS, CSAT, CES)"
    return schema
