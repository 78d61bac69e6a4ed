"""Campaign configs as marketers write them (YAML), validated before anything can send.

`Campaign.model_json_schema()` is published as `schemas/campaign.schema.json` (a test keeps it
current) so editors can validate and complete the YAML while it is being written.
"""

from __future__ import annotations

import re
from datetime import timedelta
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

from nudge.clock import parse_duration
from nudge.models.configs import Promotion
from nudge.models.events import EventName
from nudge.models.profile import Stage
from nudge.models.response_model import ResponseModel
from nudge.models.segment import (
    MAX_CAMPAIGN_DAYS,
    PropertyTest,
    Scalar,
    Segment,
    Strict,
)

Category = Literal["transactional", "marketing", "product_updates", "internal"]
CampaignId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
Duration = Annotated[str, StringConstraints(min_length=2, max_length=16)]


@lru_cache(maxsize=1024)
def seconds(text: str) -> int:
    """A config duration in seconds (cached: the pipeline asks for the same few all the time)."""
    return int(parse_duration(text).total_seconds())


def _duration(text: str, low: timedelta, high: timedelta, field: str) -> str:
    value = parse_duration(text)  # ValueError names the format
    if not low <= value <= high:
        raise ValueError(f"{field} must be between {low} and {high}")
    return text


# --- triggers -------------------------------------------------------------------------------


PropertyFilter = dict[str, Scalar | list[Scalar] | PropertyTest]


class EventTrigger(Strict):
    name: EventName
    where: PropertyFilter = Field(default_factory=dict, max_length=20)
    delay: Duration | None = Field(default=None, description="e.g. 30m: evaluate this later")
    unless: list[EventName] = Field(
        default_factory=list,
        max_length=10,
        description="skip if any of these happened between the trigger and the send",
    )

    @field_validator("delay")
    @classmethod
    def _delay(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _duration(value, timedelta(minutes=1), timedelta(days=30), "delay")

    @model_validator(mode="after")
    def _unless_needs_delay(self) -> EventTrigger:
        if self.unless and self.delay is None:
            raise ValueError("'unless' needs a 'delay' (the time in which it may happen)")
        return self


class InactivityTrigger(Strict):
    days: int = Field(ge=1, le=MAX_CAMPAIGN_DAYS)
    event: EventName | None = Field(default=None, description="no such event (default: any)")


class LifecycleTrigger(Strict):
    to: Stage
    from_: list[Stage] | None = Field(default=None, alias="from")

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, populate_by_name=True)


class ScheduleTrigger(Strict):
    cron: str = Field(description="5 fields: minute hour day-of-month month day-of-week")
    local_time: bool = Field(default=True, description="in each user's own time zone")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        fields = value.split()
        if len(fields) != 5 or not croniter.is_valid(value):
            raise ValueError(f"not a valid 5-field cron expression: {value!r}")
        return value


class GeofenceTrigger(Strict):
    """Evaluated by the geofencing feature; accepted here so campaigns can be written now."""

    tags: list[str] = Field(min_length=1, max_length=20)
    on: Literal["enter", "exit", "dwell"] = "enter"
    dwell_minutes: int | None = Field(default=None, ge=1, le=720)


class Trigger(Strict):
    event: EventTrigger | None = None
    inactivity: InactivityTrigger | None = None
    lifecycle: LifecycleTrigger | None = None
    schedule: ScheduleTrigger | None = None
    geofence: GeofenceTrigger | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        given = [name for name in type(self).model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one trigger kind: event, inactivity, lifecycle, schedule, geofence"
            )
        return self

    @property
    def kind(self) -> str:
        return next(name for name in type(self).model_fields if getattr(self, name) is not None)


# --- content and delivery -------------------------------------------------------------------

_TEMPLATE_VARS = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)")


class Variant(Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,31}$")]
    weight: int = Field(default=1, ge=0, le=10_000)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=1000)
    image: str | None = Field(default=None, max_length=1000)
    deep_link: str | None = Field(default=None, max_length=1000)


class VariantText(Strict):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    body: str | None = Field(default=None, min_length=1, max_length=1000)
    image: str | None = Field(default=None, max_length=1000)
    deep_link: str | None = Field(default=None, max_length=1000)


class LocaleOverrides(Strict):
    variants: dict[str, VariantText] = Field(default_factory=dict)


class SendWindow(Strict):
    """Local clock times between which sends may happen (e.g. 09:00-20:00)."""

    start: ClockTime
    end: ClockTime

    @model_validator(mode="after")
    def _not_empty(self) -> SendWindow:
        if self.start == self.end:
            raise ValueError("start and end are equal: the window is empty")
        return self


class DeliveryRules(Strict):
    cooldown: Duration = Field(default="24h", description="per user, between two sends")
    max_per_user: int = Field(default=10, ge=1, le=1000, description="sends per user, ever")
    respect_quiet_hours: bool = True
    ttl: Duration = Field(default="24h", description="a send not delivered by then is dropped")
    send_window: SendWindow | None = None

    @field_validator("cooldown")
    @classmethod
    def _cooldown(cls, value: str) -> str:
        return _duration(value, timedelta(0), timedelta(days=MAX_CAMPAIGN_DAYS), "cooldown")

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, value: str) -> str:
        return _duration(value, timedelta(minutes=1), timedelta(days=28), "ttl")


class Goal(Strict):
    """A send converts when `event` arrives within `within` of it."""

    event: EventName
    within: Duration = "3d"

    @field_validator("within")
    @classmethod
    def _within(cls, value: str) -> str:
        return _duration(value, timedelta(minutes=5), timedelta(days=30), "within")


class Campaign(Strict):
    id: CampaignId
    name: str = Field(min_length=1, max_length=200)
    category: Category = "marketing"
    status: Literal["draft", "active", "paused", "archived"] = "draft"
    priority: int = Field(default=0, ge=0, le=100, description="higher wins a contested slot")
    trigger: Trigger
    audience: Segment = Field(default_factory=Segment)
    variants: list[Variant] = Field(min_length=1, max_length=10)
    holdout_pct: float = Field(default=0, ge=0, le=50)
    cohort_attribute: str | None = Field(
        default=None,
        max_length=64,
        description="a profile attribute holding a cohort 0-99 (Pinpoint's CohortId, imported "
        "as pinpoint_cohort): users who have one are held out and given variants by cohort, "
        "the lowest cohorts held out, so groups stay together as in Pinpoint; others by hash",
    )
    delivery: DeliveryRules = Field(default_factory=DeliveryRules)
    goal: Goal | None = None
    default_locale: str = Field(default="en", min_length=2, max_length=16)
    localization: dict[str, LocaleOverrides] = Field(default_factory=dict, max_length=50)
    allow_everyone: bool = Field(
        default=False,
        description="required to target every user: a safety catch for marketing campaigns",
    )
    auto_promote: bool = Field(
        default=False,
        description=(
            "when the variant comparison names a clear winner, send every user outside the "
            "holdout that variant (recorded; `nudge campaign unpromote` reverts it)"
        ),
    )
    # Set from the config store's pointer (never from the file): the last promotion, if any.
    _promotion: Promotion | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _consistent(self) -> Campaign:
        ids = [variant.id for variant in self.variants]
        if len(set(ids)) != len(ids):
            raise ValueError("variant ids must be unique")
        if sum(variant.weight for variant in self.variants) == 0:
            raise ValueError("at least one variant needs a weight above 0")
        for locale, overrides in self.localization.items():
            unknown = set(overrides.variants) - set(ids)
            if unknown:
                raise ValueError(f"localization.{locale}: unknown variant(s) {sorted(unknown)}")
        if (
            self.category == "marketing"
            and self.audience.is_everyone()
            and self.trigger.kind in {"schedule", "inactivity"}
            and not self.allow_everyone
        ):
            raise ValueError(
                "this marketing campaign would reach every user on a timer: give an audience, "
                "or set allow_everyone: true if that is really meant"
            )
        return self

    @property
    def promotion(self) -> Promotion | None:
        return self._promotion

    @property
    def promoted_variant(self) -> str | None:
        """The variant every non-holdout user gets while a promotion is in effect."""
        promotion = self._promotion
        if promotion is None or not promotion.in_effect:
            return None
        return promotion.variant if any(v.id == promotion.variant for v in self.variants) else None

    def with_promotion(self, promotion: Promotion | None) -> Campaign:
        copy = self.model_copy()
        copy._promotion = promotion
        return copy

    def event_names(self) -> set[str]:
        names = self.audience.event_names()
        if self.trigger.event:
            names |= {self.trigger.event.name, *self.trigger.event.unless}
        if self.trigger.inactivity and self.trigger.inactivity.event:
            names.add(self.trigger.inactivity.event)
        if self.goal:
            names.add(self.goal.event)
        return names

    def template_variables(self) -> set[str]:
        """Top-level names the texts use (event, user, campaign...): checked at validation."""
        found: set[str] = set()
        texts = [v.title + v.body + (v.deep_link or "") for v in self.variants]
        for overrides in self.localization.values():
            texts += [(t.title or "") + (t.body or "") for t in overrides.variants.values()]
        for text in texts:
            found |= set(_TEMPLATE_VARS.findall(text))
        return found


class CampaignSet(BaseModel):
    """The published configs the pipeline works with (non-archived campaigns, named segments)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    campaigns: dict[str, Campaign] = Field(default_factory=dict)
    segments: dict[str, Segment] = Field(default_factory=dict)
    version: str = ""
    # the regional response model (`predicted_response`, `top_regions`); None: none yet
    response_model: ResponseModel | None = None

    def active(self) -> dict[str, Campaign]:
        return {cid: c for cid, c in self.campaigns.items() if c.status == "active"}
