"""Tunable engagement rules: lifecycle thresholds, interests, purchases, ingest limits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class LifecycleThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    new_days: int = Field(default=7, ge=1, description="A user is new for this many days")
    at_risk_after_days: int = Field(default=7, ge=1, description="Inactive this long: at_risk")
    dormant_after_days: int = Field(default=30, ge=2, description="Inactive this long: dormant")
    loyal_active_days: int = Field(
        default=12, ge=1, le=30, description="Active on at least this many of the last 30 days"
    )
    reactivated_days: int = Field(
        default=14, ge=1, le=30, description="How long a returning user stays 'reactivated'"
    )

    @model_validator(mode="after")
    def _ordered(self) -> LifecycleThresholds:
        if self.dormant_after_days <= self.at_risk_after_days:
            raise ValueError("dormant_after_days must be greater than at_risk_after_days")
        return self


class InterestRule(BaseModel):
    """An event contributes `weight` to an interest: a fixed one or a property's value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event: str
    interest: str | None = None
    from_property: str | None = None
    weight: float = Field(default=1.0, gt=0, le=100)

    @model_validator(mode="after")
    def _one_source(self) -> InterestRule:
        if (self.interest is None) == (self.from_property is None):
            raise ValueError("give exactly one of 'interest' or 'from_property'")
        return self


class ConsentDefaults(BaseModel):
    """What a user who never said anything gets. `opt_in`: marketing and location (geofence
    tracking) are off until granted; `opt_out`: on until refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["opt_in", "opt_out"] = "opt_in"
    product_updates: bool = True
    internal: bool = True
    quiet_hours_start: str | None = "22:00"
    quiet_hours_end: str | None = "08:00"
    default_timezone: str = "UTC"  # the app's own zone when nothing better is known


class CategoryCaps(BaseModel):
    """Across all campaigns of one category, per user."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    per_day: int | None = Field(default=None, ge=0)
    per_week: int | None = Field(default=None, ge=0)


def default_caps() -> dict[str, CategoryCaps]:
    return {
        "marketing": CategoryCaps(per_day=3, per_week=8),
        "product_updates": CategoryCaps(per_day=2, per_week=5),
    }


class EngagementConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    lifecycle: LifecycleThresholds = Field(default_factory=LifecycleThresholds)
    consent: ConsentDefaults = Field(default_factory=ConsentDefaults)
    consent_retention_days: int = Field(default=1095, ge=30, description="opt-in evidence")
    session_event: str = "session_start"
    purchase_events: tuple[str, ...] = ("purchase", "order_completed", "ticket_purchased")
    purchase_amount_property: str = "amount"
    interests: tuple[InterestRule, ...] = ()
    interest_half_life_days: float = Field(default=14.0, gt=0)
    max_interests: int = Field(default=10, ge=1, le=50)
    # Per-name counts kept in the profile (most recently seen first): bounds the item size
    # whatever names an app invents.
    max_event_names: int = Field(default=40, ge=1, le=200)
    # Ingest: events older than this, or further in the future, are rejected per event.
    max_event_age_days: int = Field(default=30, ge=1, le=365)
    max_clock_skew_minutes: int = Field(default=10, ge=0, le=1440)
    # Raw history (and the dedupe record it doubles as) expires after this many days.
    history_ttl_days: int = Field(default=90, ge=1)
    # Due-time index: spread each hour bucket over this many partitions.
    due_shards: int = Field(default=4, ge=1, le=64)
    # The last known area is forgotten after this many days (privacy: no location trail).
    location_retention_days: int = Field(default=30, ge=1, le=365)
    # Per user, across all campaigns of a category (transactional is never capped).
    caps: dict[str, CategoryCaps] = Field(default_factory=default_caps)
    # When given, campaigns may only name these events (catches typos before they ship).
    event_catalog: tuple[str, ...] = ()
