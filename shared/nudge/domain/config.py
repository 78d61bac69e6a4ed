"""Tunable engagement rules: lifecycle thresholds, interests, purchases, ingest limits,
engagement analytics (opt-out attribution, guard rails)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class LifecycleThresholds(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

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

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

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

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    mode: Literal["opt_in", "opt_out"] = "opt_in"
    product_updates: bool = True
    internal: bool = True
    quiet_hours_start: str | None = "22:00"
    quiet_hours_end: str | None = "08:00"
    # The app's own zone when nothing about the user names one; unset (the default), local-time
    # rules withhold marketing from such users (`unknown_timezone`) instead of guessing UTC.
    default_timezone: str | None = None

    @field_validator("default_timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        from nudge.models.device import check_timezone

        return check_timezone(value)


class CategoryCaps(BaseModel):
    """Per user, across every interruption of one category (campaigns, broadcasts, API
    messages, survey prompts), per local calendar day and per the last 7 local days."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    per_day: int | None = Field(default=None, ge=0)
    per_week: int | None = Field(default=None, ge=0)


def default_caps() -> dict[str, CategoryCaps]:
    return {
        "marketing": CategoryCaps(per_day=3, per_week=8),
        "product_updates": CategoryCaps(per_day=2, per_week=5),
    }


class SegmentAlertConfig(BaseModel):
    """Segment health (scheduler tick, daily): week-over-week swings that alert ops. A swing
    alerts only beyond its bound AND beyond the sampling interval, and only with enough data."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    size_change_pct: float = Field(default=30.0, gt=0, le=1000, description="size swing, %")
    response_change_pts: float = Field(
        default=5.0, gt=0, le=100, description="open or conversion rate swing, points"
    )
    min_size: int = Field(default=100, ge=1, description="smaller segments: no size alert")
    min_delivered: int = Field(
        default=100, ge=1, description="deliveries per week each before a response alert"
    )


class RegionalModelConfig(BaseModel):
    """The regional response model (scheduler tick): which regions respond better to a
    campaign category, fitted on the breakdown counters and published for targeting."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    enabled: bool = True
    window_days: int = Field(default=30, ge=1, le=90, description="UTC days of counters fitted")
    every_hours: int = Field(default=24, ge=1, le=168, description="recompute at most this often")
    level: Literal["country", "region"] = "country"  # what a region is (the breakdown's)


class AnalyticsConfig(BaseModel):
    """Engagement analytics: opt-out attribution, lift, guard rails and sunset advice."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    attribution_window_hours: int = Field(
        default=24, ge=1, le=14 * 24, description="An opt-out is blamed on a message this recent"
    )
    # A marketing opt-out is blamed on the last marketing message, not on an order receipt;
    # permission revocations and uninstalls always take the last message of any category.
    match_opt_out_category: bool = True
    min_lift_group: int = Field(
        default=100, ge=1, description="Sends and holdouts each needed before a lift verdict"
    )
    min_sample: int = Field(
        default=200, ge=1, description="Delivered messages before guard rails or sunset judge"
    )
    min_breakdown_group: int = Field(
        default=30,
        ge=1,
        description="Sends a breakdown cell (a country, stage, segment...) needs for its rates",
    )
    pause_opt_out_pct: float = Field(
        default=2.0, gt=0, le=100, description="Opt-outs per 100 delivered above which to pause"
    )
    # Sunset: open rate below this share of the baseline's AND opt-out rate above this
    # multiple of it; a margin on both keeps ordinary noise off the list.
    sunset_open_ratio: float = Field(default=0.8, gt=0, le=1)
    sunset_opt_out_ratio: float = Field(default=1.5, ge=1)
    # Auto-pause (on the scheduler tick): judged on the counters of the last
    # `pause_window_days` days, and only since the campaign's last status change or publish,
    # so a campaign a person resumed is judged on fresh evidence.
    auto_pause: bool = True
    # The sunset advice of the last 7 days, sent to the alert destinations once a week.
    weekly_sunset: bool = True
    pause_window_days: int = Field(default=7, ge=1, le=90)
    # auto_promote (campaigns that ask for it, on the scheduler tick): the variant comparison
    # over at most this many days, from the current version's publish on
    promote_window_days: int = Field(default=28, ge=1, le=90)
    # segment health (scheduler tick, once a day): named segments' sampled sizes, alerts
    segment_health: bool = True
    segment_alert: SegmentAlertConfig = Field(default_factory=SegmentAlertConfig)
    regional_model: RegionalModelConfig = Field(default_factory=RegionalModelConfig)

    @property
    def attribution_window_seconds(self) -> int:
        return self.attribution_window_hours * 3_600


DEFAULT_INTEREST_HALF_LIFE_DAYS = 14.0  # services built without settings (tests) use this


class EngagementConfig(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    lifecycle: LifecycleThresholds = Field(default_factory=LifecycleThresholds)
    consent: ConsentDefaults = Field(default_factory=ConsentDefaults)
    consent_retention_days: int = Field(default=1095, ge=30, description="opt-in evidence")
    session_event: str = "session_start"
    purchase_events: tuple[str, ...] = ("purchase", "order_completed", "ticket_purchased")
    purchase_amount_property: str = "amount"
    interests: tuple[InterestRule, ...] = ()
    interest_half_life_days: float = Field(default=DEFAULT_INTEREST_HALF_LIFE_DAYS, gt=0)
    max_interests: int = Field(default=10, ge=1, le=50)
    # Per-name counts kept in the profile (most recently seen first): bounds the item size
    # whatever names an app invents.
    max_event_names: int = Field(default=40, ge=1, le=200)
    # Ingest: events older than this, or further in the future, are rejected per event.
    max_event_age_days: int = Field(default=30, ge=1, le=365)
    max_clock_skew_minutes: int = Field(default=10, ge=0, le=1440)
    # Raw history (and the dedupe record it doubles as) expires after this many days.
    history_ttl_days: int = Field(default=90, ge=1)
    # Each user's campaign decision record ("why didn't Ann get X?") expires after this many.
    decision_record_days: int = Field(default=30, ge=1, le=400)
    # Due-time index: spread each hour bucket over this many partitions.
    due_shards: int = Field(default=4, ge=1, le=64)
    # The last known area is forgotten after this many days (privacy: no location trail).
    location_retention_days: int = Field(default=30, ge=1, le=365)
    # Per user, across every interruption of a category (transactional is never capped).
    caps: dict[str, CategoryCaps] = Field(default_factory=default_caps)
    # Caps bind every interruption (campaigns, broadcasts, API messages, survey prompts);
    # broadcasts of category `internal` (staff, testers) are left out of them while True.
    fatigue_exempt_internal: bool = True
    # When given, campaigns may only name these events (catches typos before they ship).
    event_catalog: tuple[str, ...] = ()
    analytics: AnalyticsConfig = Field(default_factory=AnalyticsConfig)
