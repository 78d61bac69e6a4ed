"""Segments: the audience rules campaigns, broadcasts and surveys share (YAML, validated).

Kept apart from the campaign models so surveys and broadcasts load only what they use.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from nudge.models.events import EventName
from nudge.models.profile import Stage

SegmentName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$")]
Scalar = str | int | float | bool

MAX_CAMPAIGN_DAYS = 90  # windows longer than the profile's memory could never be evaluated
COUNT_WINDOW_DAYS = 30  # the profile keeps per-day counts this far back


class Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class PropertyTest(Strict):
    """A test on an event property: equal to one of `in`, or a numeric range."""

    in_: list[Scalar] | None = Field(default=None, alias="in", max_length=100)
    gte: float | None = None
    lte: float | None = None
    exists: bool | None = None
    version_gte: str | None = Field(default=None, max_length=32, description="e.g. app 2.10")
    version_lt: str | None = Field(default=None, max_length=32)

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, populate_by_name=True)


# --- audience (segments) --------------------------------------------------------------------


class Behavior(Strict):
    """Event counts in a rolling window: `count_gte`/`count_lte` times in `within_days`."""

    event: EventName
    count_gte: int | None = Field(default=None, ge=0)
    count_lte: int | None = Field(default=None, ge=0)
    within_days: int = Field(default=COUNT_WINDOW_DAYS, ge=1, le=COUNT_WINDOW_DAYS)

    @model_validator(mode="after")
    def _some_bound(self) -> Behavior:
        if self.count_gte is None and self.count_lte is None:
            raise ValueError("give count_gte and/or count_lte")
        if (
            self.count_gte is not None
            and self.count_lte is not None
            and (self.count_gte > self.count_lte)
        ):
            raise ValueError("count_gte is greater than count_lte: nobody can match")
        return self


class Recency(Strict):
    """Last time of an event (or of any activity): within, or not within, N days."""

    event: EventName | None = None
    within_days: int | None = Field(default=None, ge=1, le=MAX_CAMPAIGN_DAYS)
    not_within_days: int | None = Field(default=None, ge=1, le=MAX_CAMPAIGN_DAYS)

    @model_validator(mode="after")
    def _one(self) -> Recency:
        if (self.within_days is None) == (self.not_within_days is None):
            raise ValueError("give exactly one of within_days or not_within_days")
        return self


class DidNot(Strict):
    """Did `did` but not `not_` within N days (e.g. viewed a product, did not buy)."""

    did: EventName
    not_: EventName = Field(alias="not")
    within_days: int = Field(default=7, ge=1, le=COUNT_WINDOW_DAYS)

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, populate_by_name=True)


class Purchases(Strict):
    total_gte: float | None = Field(default=None, ge=0, description="amount spent")
    purchase_days_gte: int | None = Field(default=None, ge=0, description="days with a purchase")
    within_days: int = Field(default=COUNT_WINDOW_DAYS, ge=1, le=COUNT_WINDOW_DAYS)


class Interests(Strict):
    any: list[str] = Field(default_factory=list, max_length=50)
    all: list[str] = Field(default_factory=list, max_length=50)
    min_score: float = Field(default=0.5, ge=0)
    top: int = Field(default=3, ge=1, le=50, description="only the user's top N interests count")

    @model_validator(mode="after")
    def _some(self) -> Interests:
        if not self.any and not self.all:
            raise ValueError("give 'any' and/or 'all'")
        return self


class Near(Strict):
    lat: float = Field(ge=-90, le=90)
    lng: float = Field(ge=-180, le=180)
    radius_km: float = Field(gt=0, le=500)


class LocationRule(Strict):
    """The last known area: near a point, seen within N days."""

    near: Near
    seen_within_days: int = Field(default=7, ge=1, le=MAX_CAMPAIGN_DAYS)

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, allow_inf_nan=False)


AttributeTest = list[Scalar] | PropertyTest
ResponseMetric = Literal["open", "conversion", "opt_out"]
CategoryName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]{0,31}$")]


def _share(value: Any) -> Any:
    """'20%' -> 0.2 (a share may be written either way)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            raise ValueError(f"{value!r} is not a percentage") from None
    return value


class PredictedResponse(Strict):
    """The regional response model's prediction for the user's region (a campaign category's
    open, conversion or opt-out rate) at least and/or at most this (0..1)."""

    category: CategoryName
    metric: ResponseMetric = "conversion"
    at_least: float | None = Field(default=None, ge=0, le=1)
    at_most: float | None = Field(default=None, ge=0, le=1)

    @model_validator(mode="after")
    def _some_bound(self) -> PredictedResponse:
        if self.at_least is None and self.at_most is None:
            raise ValueError("give at_least and/or at_most")
        return self


class TopRegions(Strict):
    """The user's region is among the best `share` of regions (by predicted rate; for
    opt_out, the highest predicted opt-out rates: combine with `not` to avoid them)."""

    category: CategoryName
    metric: ResponseMetric = "conversion"
    share: Annotated[float, BeforeValidator(_share), Field(gt=0, le=1)]


class Segment(Strict):
    """All conditions given must hold; `all`/`any`/`not` combine nested segments."""

    segment: SegmentName | None = Field(default=None, description="a named segment")
    lifecycle: list[Stage] | None = Field(default=None, min_length=1)
    behavior: Behavior | list[Behavior] | None = None
    recency: Recency | None = None
    did_not: DidNot | None = None
    purchases: Purchases | None = None
    interests: Interests | None = None
    attributes: dict[str, AttributeTest] | None = Field(default=None, max_length=20)
    location: LocationRule | None = None
    predicted_response: PredictedResponse | None = None
    top_regions: TopRegions | None = None
    all: list[Segment] | None = Field(default=None, min_length=1, max_length=20)
    any: list[Segment] | None = Field(default=None, min_length=1, max_length=20)
    not_: Segment | None = Field(default=None, alias="not")

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True, populate_by_name=True)

    def is_everyone(self) -> bool:
        return all(getattr(self, name) is None for name in type(self).model_fields)

    def event_names(self) -> set[str]:
        names: set[str] = set()
        for rule in _as_list(self.behavior):
            names.add(rule.event)
        if self.recency and self.recency.event:
            names.add(self.recency.event)
        if self.did_not:
            names |= {self.did_not.did, self.did_not.not_}
        for child in [*(self.all or []), *(self.any or []), *([self.not_] if self.not_ else [])]:
            names |= child.event_names()
        return names

    def segment_names(self) -> set[str]:
        names = {self.segment} if self.segment else set()
        for child in [*(self.all or []), *(self.any or []), *([self.not_] if self.not_ else [])]:
            names |= child.segment_names()
        return names


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


class NamedSegments(Strict):
    """A segments file: named audiences reused by campaigns and broadcasts."""

    segments: dict[SegmentName, Segment] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _no_cycles(self) -> NamedSegments:
        for name in self.segments:
            _walk(name, self.segments, ())
        return self


def _walk(name: str, segments: dict[str, Segment], path: tuple[str, ...]) -> None:
    if name in path:
        raise ValueError(f"segment {name!r} refers to itself: {' -> '.join((*path, name))}")
    segment = segments.get(name)
    if segment is None:
        raise ValueError(f"unknown segment {name!r}" + (f" (used by {path[-1]!r})" if path else ""))
    for child in sorted(segment.segment_names()):
        _walk(child, segments, (*path, name))
