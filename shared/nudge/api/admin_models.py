"""What the admin API answers: one pydantic model per response shape, for the OpenAPI document.

The routes name these in `responses=` (nudge.api.responses: `ok("UserExport")`, the error sets)
and keep returning the services' dicts: the JSON is exactly what it was (the `nudge` CLI and
marketers' scripts parse it), and a test checks each route's real answer against its model
(`extra="forbid"`: a key the model does not name fails). Where a shape is open-ended (a
stored profile, a rendered message) the model says so with `dict[str, Any]`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# the app's own export and erasure answer the same shapes (Erasure: named by the erase route)
from nudge.api.mobile_models import Erasure as Erasure
from nudge.api.mobile_models import ExportedBroadcast, ExportSummary, SurveyData


class Shape(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")


# --- errors --------------------------------------------------------------------------------


class ErrorBody(Shape):
    """Every error the functions answer (404, 400, 413...)."""

    statusCode: int
    message: str


class FieldError(Shape):
    field: str
    error: str


class InvalidRequest(ErrorBody):
    """A parameter or body field failed validation: `message` names up to three."""

    errors: list[FieldError] | None = Field(default=None, description="every invalid field")


class ConfigProblemRow(Shape):
    source: str
    line: int | None
    field: str | None
    message: str


class InvalidConfig(ErrorBody):
    """A YAML config, GeoJSON or CSV that cannot be published, with every problem located."""

    problems: list[ConfigProblemRow]


class GatewayError(Shape):
    """API Gateway's own answer (IAM signature missing or not allowed)."""

    message: str


# --- users ---------------------------------------------------------------------------------


class UserExport(Shape):
    """One page of everything stored: pass `history_next` back as `history_after`."""

    user_id: str
    profile: dict[str, Any] | None = Field(description="the stored profile (null: none)")
    devices: list[dict[str, Any]]
    preferences: dict[str, Any] | None
    summary: ExportSummary | None
    surveys: SurveyData
    deliveries: list[dict[str, Any]] = Field(
        description="the delivery log (30 days): each push's job, source, device, template, "
        "outcome and open or dismissal time, oldest first"
    )
    broadcasts: list[ExportedBroadcast]
    history: list[dict[str, Any]] = Field(
        description="events, transitions, consents and campaign decisions (`type`)"
    )
    history_next: str | None


class DecisionEntry(Shape):
    """One decision about one message for the user: a campaign's (`stage` decided) or
    push_sender's (`stage` delivery: sent, failed, suppressed)."""

    at: int = Field(description="epoch seconds")
    kind: Literal["campaign", "broadcast", "message"]
    id: str | None = Field(description="the campaign or broadcast id; a message's source")
    stage: Literal["decided", "delivery"]
    action: str = Field(description="send, holdout, wait, suppress; or sent, failed, ...")
    reason: str | None = Field(description="the rule that blocked it (null: none did)")
    detail: str
    variant: str | None
    occurrence: str | None
    job_id: str | None
    device_id: str | None
    explanation: str = Field(description="what happened and why, in words")


class UserDecisions(Shape):
    """Newest first; a campaign's outcome is recorded when it changes, and once a day."""

    user_id: str
    campaign: str | None
    decisions: list[DecisionEntry]
    not_recorded: str = Field(description="what is not recorded per user")


# --- reports -------------------------------------------------------------------------------


class Rate(Shape):
    """count/n as a percentage with its 95% interval; null (never NaN) when n is 0."""

    count: int
    n: int
    pct: float | None
    ci_pct: list[float] | None
    label: str


class Lift(Shape):
    variant: str | None
    exposed: Rate
    holdout: Rate
    diff_pts: float | None
    ci_low_pts: float | None
    ci_high_pts: float | None
    verdict: Literal["not_enough_data", "no_effect", "helps", "hurts"]
    label: str


class BreakdownRow(Shape):
    """One country, region, city, stage, platform or named segment, with 95 % intervals."""

    value: str = Field(description="the country, stage...; 'unknown' where nothing named it")
    sent: int
    holdout: int
    enough_data: bool = Field(
        description="false: fewer sends than analytics.min_breakdown_group: too little data"
    )
    open: Rate = Field(description="opened of sent")
    conversion: Rate = Field(description="converted of sent")
    opt_out: Rate = Field(description="opt-outs of sent")
    holdout_conversion: Rate = Field(description="the holdout's converted of holdout")


class RegionEstimate(Shape):
    """One region's predicted rate: the empirical-Bayes posterior mean, with its 95 % interval."""

    region: str
    sends: int
    hits: int = Field(description="opens, conversions or opt-outs of those sends")
    observed: float | None = Field(description="hits / sends, 0..1, before shrinkage")
    predicted: float = Field(description="0..1: pulled toward the overall rate by little data")
    low: float
    high: float
    verdict: Literal["better", "worse", "as the rest"] = Field(
        description="better / worse: the whole interval above / below the overall rate"
    )


class RegionalFit(Shape):
    overall: float = Field(description="the pooled rate over every region, 0..1")
    sends: int
    prior: dict[str, float] = Field(description="the Beta prior fitted across regions")
    better: list[RegionEstimate]
    worse: list[RegionEstimate]
    regions: list[RegionEstimate] = Field(
        description="best first, by the interval's lower end (a lucky few sends are not best)"
    )


class RegionalModelReport(Shape):
    """The regional response model of one campaign category (analytics.regional_model)."""

    category: str
    level: Literal["country", "region"]
    since: str
    until: str
    published_at: int | None = Field(description="when the tick last published it (epoch s)")
    metrics: dict[str, RegionalFit]


class BreakdownReport(Shape):
    """Response cells summed over the days; ranked by the lower end of the interval."""

    campaign: str | None = None
    category: str | None = None
    campaigns: list[str] | None = Field(default=None, description="a category's campaigns")
    by: Literal["country", "region", "city", "stage", "platform", "segment"]
    rank_by: Literal["open", "conversion", "opt_out"]
    start: str
    end: str
    min_group: int
    rows: list[BreakdownRow]


class VariantPair(Shape):
    a: str
    b: str
    diff_pts: float | None = Field(description="a's conversion minus b's, in points")
    ci_low_pts: float | None
    ci_high_pts: float | None
    verdict: Literal["not_enough_data", "no_difference", "a_better", "b_better"]


class VariantComparison(Shape):
    """Every pair of variants (conversions of sends), intervals adjusted for the comparisons."""

    method: str
    confidence: float = Field(description="per pair, after the adjustment")
    rates: dict[str, Rate]
    pairs: list[VariantPair]
    winner: str | None = Field(description="only when clearly better than every other variant")
    label: str


class PromotionRecord(Shape):
    """auto_promote's last promotion: all traffic outside the holdout to `variant`."""

    variant: str
    at: int = Field(description="epoch seconds")
    version: int = Field(description="the campaign version whose counters were judged")
    since: str = Field(description="first day judged (YYYY-MM-DD, UTC)")
    until: str
    evidence: VariantComparison
    ended_at: int | None = Field(description="reverted, or a new version published")
    ended_by: str | None
    in_effect: bool


class GuardRail(Shape):
    open_vs_baseline_pts: float | None
    opt_out_vs_baseline_pts: float | None
    baseline_open: Rate
    baseline_opt_out: Rate
    enough_sample: bool
    evidence: str


class FormatRow(GuardRail):
    open_rate: Rate
    opt_out_rate: Rate


class VariantFunnel(Shape):
    sent: int
    converted: int
    conversion_pct: float | None
    delivered: int
    failed: int
    opened: int
    opt_outs: int
    open_rate: Rate
    opt_out_rate: Rate


class CampaignFunnel(Shape):
    """One campaign's counters summed over the period."""

    targeted: int
    sent: int
    delivered: int
    failed: int
    opened: int
    converted: int
    holdout: int
    holdout_converted: int
    holdout_conversion_pct: float | None
    suppressed: dict[str, int] = Field(description="per reason, most first")
    failures: dict[str, int] = Field(description="per error code, most first")
    opt_outs: int
    opt_outs_by_kind: dict[str, int]
    open_rate: Rate
    opt_out_rate: Rate
    waiting: int
    variants: dict[str, VariantFunnel]


class DailyRow(Shape):
    day: str
    sent: int
    delivered: int
    opened: int
    opt_out: int


class CampaignsReportRow(CampaignFunnel):
    name: str
    status: str
    category: str
    lift: Lift
    variant_comparison: VariantComparison
    promotion: PromotionRecord | None = Field(description="auto_promote's last promotion")
    guard_rail: GuardRail | None
    daily: list[DailyRow] = Field(description="per day of the window (the console's sparklines)")


class ReportWindow(Shape):
    as_of: int = Field(description="epoch seconds")
    days: int
    since: str = Field(description="first day (YYYY-MM-DD, UTC)")
    until: str = Field(description="last day, today included")


class CampaignsReport(ReportWindow):
    campaigns: dict[str, CampaignsReportRow]
    formats: dict[str, FormatRow]
    unattributed_opt_outs: dict[str, int]
    other_message_opt_outs: dict[str, int] = Field(
        description="blamed on a broadcast, a transactional or an API message"
    )


class FunnelStep(Shape):
    step: Literal["targeted", "sent", "delivered", "opened", "converted"]
    count: int


class CampaignReport(ReportWindow, CampaignFunnel):
    id: str
    name: str
    status: str
    category: str
    formats: dict[str, str] = Field(description="variant id -> text or rich")
    funnel: list[FunnelStep]
    lift: Lift
    variant_lift: dict[str, Lift]
    variant_comparison: VariantComparison
    promotion: PromotionRecord | None = Field(description="auto_promote's last promotion")
    guard_rail: GuardRail | None
    daily: list[DailyRow]


class EngagementReport(Shape):
    since: str
    until: str
    daily: list[DailyRow]


class SunsetCandidate(Shape):
    kind: Literal["campaign", "format"]
    key: str
    open_rate: Rate
    opt_out_rate: Rate
    baseline_open: Rate
    baseline_opt_out: Rate
    open_shortfall_pts: float
    opt_out_excess_pts: float
    evidence: str


class NotJudged(Shape):
    kind: Literal["campaign", "format"]
    key: str
    delivered: int


class SunsetReport(ReportWindow):
    summary: str
    min_sample: int
    candidates: list[SunsetCandidate] = Field(description="worst first")
    not_judged: list[NotJudged]


class SegmentSizePoint(Shape):
    day: str
    estimate: int = Field(description="users, from the day's sample")
    interval_95: list[int] = Field(description="[low, high]; equal when every profile was read")
    complete: bool


class SegmentWeek(Shape):
    """The segment's campaigns pooled over 7 UTC days (holdouts left out)."""

    since: str
    until: str
    sent: int
    delivered: int
    opened: int
    converted: int
    open_rate: Rate = Field(description="opened of delivered")
    conversion_rate: Rate = Field(description="converted of sent")


class SegmentSwing(Shape):
    metric: Literal["size", "open_rate", "conversion_rate"]
    before: float
    after: float
    change: float = Field(description="% for size, points for rates")
    bound: float
    evidence: str


class SegmentAlertRecord(Shape):
    segment: str
    day: str
    week: str = Field(description="ISO week, e.g. 2026-W11: at most one alert a week")
    swings: list[SegmentSwing]


class SegmentHealthRow(Shape):
    published: bool = Field(description="false: no longer named, kept for its history")
    campaigns: list[str] = Field(description="published campaigns whose audience refers to it")
    sizes: list[SegmentSizePoint] = Field(description="one per measured day, oldest first")
    size_first: SegmentSizePoint | None
    size_last: SegmentSizePoint | None
    size_change_pct: float | None
    weeks: list[SegmentWeek] = Field(description="whole weeks ending today, oldest first")
    alerts: list[SegmentAlertRecord]


class SegmentAlertBounds(Shape):
    size_change_pct: float
    response_change_pts: float
    min_size: int
    min_delivered: int


class SegmentsReport(ReportWindow):
    measured_days: int = Field(description="days with a stored point in the window")
    alert_bounds: SegmentAlertBounds
    segments: dict[str, SegmentHealthRow]


class LifecycleReport(Shape):
    as_of: int
    users: int
    stages: dict[str, int]
    share_pct: dict[str, float]
    transitions: dict[str, int] = Field(description='"from->to": count, most first')
    transitions_window_days: int
