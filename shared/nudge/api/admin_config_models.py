"""What the admin API answers about configs: campaigns, segments, surveys (and NPS), fence sets.

A config listed with a load error but no live version is a "not loaded" row of fewer keys;
the unions below name both shapes (see admin_models.py for how these are used).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from nudge.api.admin_models import ConfigProblemRow, PromotionRecord, Shape

ConfigStatus = Literal["active", "paused", "archived"]


class Published(Shape):
    id: str
    version: int = Field(description="the version this upload is (an unchanged file: the same)")
    created: bool = Field(description="false: identical to a stored version")
    current_version: int
    status: ConfigStatus


class StatusChanged(Shape):
    id: str
    status: ConfigStatus
    version: int


class PromotionEnded(Shape):
    id: str
    version: int
    promotion: PromotionRecord | None = Field(description="the record, now ended (None: never)")


class LoadErrors(Shape):
    errors: list[ConfigProblemRow] = Field(description="why the last upload was not loaded")
    errors_at: int | None
    errors_sha256: str | None


class NotLoadedRow(LoadErrors):
    """A file that failed to load and has no live version."""

    id: str
    name: None
    status: Literal["not loaded"]
    version: None


# --- campaigns and segments ----------------------------------------------------------------


class CampaignRow(LoadErrors):
    id: str
    name: str | None
    category: str | None
    trigger: str | None = Field(description="the trigger kind (event, schedule...)")
    status: ConfigStatus
    version: int
    sha256: str
    updated_at: int
    deleted: bool = Field(description="archived because its bucket object was deleted")
    status_reason: str | None = Field(description="why, when a machine set it (auto-pause)")


class CampaignList(Shape):
    campaigns: list[CampaignRow | NotLoadedRow]


class CampaignVersion(Shape):
    version: int
    sha256: str
    status: ConfigStatus
    source: str
    created_at: int


class CampaignDetail(CampaignRow):
    text: str | None = Field(description="the current version's YAML")
    versions: list[CampaignVersion]
    promotion: PromotionRecord | None = Field(description="auto_promote's last promotion")


class CampaignNotLoaded(Shape):
    id: str
    status: Literal["not loaded"]
    errors: list[ConfigProblemRow]
    errors_sha256: str
    text: None
    versions: list[CampaignVersion]
    promotion: None


class Rule(Shape):
    rule: str
    passed: bool
    detail: str


class Preview(Shape):
    campaign: str
    user_id: str
    verdict: str
    variant: str | None
    zone: str = Field(description='"Europe/Amsterdam (device)": the zone and where it came from')
    rules: list[Rule]
    message: dict[str, Any] = Field(description='the rendered message, or {"error": ...}')
    devices: int = Field(description="push-enabled devices")


class StageEstimate(Shape):
    matched: int
    estimate: int


class AudienceEstimate(Shape):
    campaign: str
    users: int
    scanned: int
    matched: int
    sampled_segments: int
    total_segments: int
    complete: bool = Field(description="every profile was read: the estimate is exact")
    estimate: int
    interval_95: list[int] = Field(min_length=2, max_length=2)
    by_stage: dict[str, StageEstimate]


class SegmentsRow(CampaignRow):
    segments: list[str] = Field(description="the segment names the file defines")


class SegmentsList(Shape):
    segments: list[SegmentsRow]


# --- surveys and NPS -----------------------------------------------------------------------


class SurveyRow(LoadErrors):
    id: str
    name: str | None
    trigger: str | None = Field(description="the trigger events, comma separated")
    sample_pct: float | None
    status: ConfigStatus
    version: int
    sha256: str
    updated_at: int
    deleted: bool


class SurveyList(Shape):
    surveys: list[SurveyRow | NotLoadedRow]


class SurveyVersion(Shape):
    version: int
    sha256: str
    source: str
    at: int


class SurveyDetail(SurveyRow):
    text: str | None
    versions: list[SurveyVersion]


class SurveyNotLoaded(Shape):
    id: str
    status: Literal["not loaded"]
    version: None
    sha256: None
    errors: list[ConfigProblemRow]
    errors_sha256: str | None
    text: None
    versions: list[SurveyVersion]


class NpsSummary(Shape):
    """A survey's score; CSAT and CES count their bands as promoters (satisfied / easy),
    passives and detractors (dissatisfied / difficult)."""

    n: int
    promoters: int
    passives: int
    detractors: int
    nps: float | None = Field(description="-100..100; null without answers or for CSAT/CES")
    ci_low: float | None = Field(description="of the score")
    ci_high: float | None
    mean_score: float | None
    label: str
    not_enough_responses: bool
    kind: Literal["nps", "csat", "ces"]
    score: float | None = Field(description="NPS, CSAT % satisfied, or the CES mean (1-7)")


class NpsPoint(NpsSummary):
    period: str = Field(description="the day, or the ISO week's Monday")


class NpsBreakdownRow(NpsSummary):
    value: str


class Theme(Shape):
    name: str
    keywords: list[str]
    size: int
    average_score: float | None
    examples: list[str]
    pinned: bool


class ThemePriority(Shape):
    theme: str
    mentions: int = Field(description="scored answers whose comments fall in the theme")
    share: float = Field(description="of the detractors (praised: promoters) who mention it")
    gap: float = Field(description="average score points between those who don't and do")
    impact: float | None = Field(description="share x gap; null when too few to rank")
    ci_low: float | None
    ci_high: float | None
    verdict: Literal["fix first", "praised", "not clear yet", "too few to rank"]
    quotes: list[str]


class ThemePriorities(Shape):
    fix_first: list[ThemePriority] = Field(description="what pulls the score down, worst first")
    praised: list[ThemePriority] = Field(description="what promoters praise, most first")


class Themes(Shape):
    responses_read: int
    capped: bool
    comments: int
    themes: list[Theme]
    priorities: ThemePriorities


class NpsReport(Shape):
    survey_id: str
    kind: Literal["nps", "csat", "ces"]
    name: str
    status: ConfigStatus
    period: Literal["weekly", "daily"]
    since: str
    until: str
    min_responses: int
    overall: NpsSummary
    trend: list[NpsPoint]
    by: Literal["lifecycle", "platform", "app_version", "country"] | None = Field(
        default=None, description="only with ?by="
    )
    breakdown: list[NpsBreakdownRow] | None = Field(default=None, description="only with ?by=")
    themes: Themes | None = Field(default=None, description="unless ?themes=false")


# --- fence sets ----------------------------------------------------------------------------


class FenceSetPublished(Published):
    fences: int
    sha256: str


class FenceSetRow(LoadErrors):
    id: str
    name: str | None
    status: Literal["active", "archived"]
    version: int
    fences: int | None
    tags: list[str]
    format: str | None
    sha256: str
    updated_at: int
    deleted: bool


class FenceSetNotLoaded(LoadErrors):
    id: str
    name: None
    status: Literal["not loaded"]
    version: None
    fences: None
    sha256: None


class FenceSetList(Shape):
    sets: list[FenceSetRow | FenceSetNotLoaded]


class FenceSetStatusChanged(Shape):
    id: str
    status: Literal["active", "archived"]
    version: int
