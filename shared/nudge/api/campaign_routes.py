"""Admin API (IAM): campaign and segment configs - publish, list, pause, restore, preview."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import unquote

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from nudge import runtime
from nudge.api.http import error_response
from nudge.api.responses import CONFIG_REJECTED, ERRORS, FORBIDDEN, NOT_FOUND, TOO_LARGE, ok
from nudge.configfiles import MAX_CONFIG_BYTES, ConfigError
from nudge.models.campaign import Campaign
from nudge.models.configs import object_key
from nudge.services.campaigns.configs import estimate_audience, promotion_json
from nudge.services.configs.loading import problem_row
from nudge.settings import get_settings

router = APIGatewayHttpRouter()
metrics = Metrics()
ConfigId = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$", description="config id")]


class ConfigText(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    yaml: str = Field(min_length=1, max_length=MAX_CONFIG_BYTES, description="the YAML file")


class StatusChange(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    status: Literal["active", "paused", "archived"]


class Restore(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    version: int = Field(ge=1)


class PreviewRequest(ConfigText):
    user_id: str = Field(min_length=1, max_length=256)


def _invalid(error: ConfigError) -> Response[Any]:
    problems = [problem_row(p) for p in error.problems]
    summary = "; ".join(str(p) for p in error.problems[:3])
    return error_response(400, f"invalid config: {summary}", problems=problems)


def _ok(body: Any) -> Response[Any]:
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=body)


def _published(result: Any) -> Response[Any]:
    return _ok(
        {
            "id": result.head.config_id,
            "version": result.version,
            "created": result.created,
            "current_version": result.head.version,
            "status": result.head.status,
        }
    )


@router.put(
    "/admin/v1/campaigns/<campaign_id>",
    summary="Publish a campaign version",
    tags=["campaigns"],
    responses={**ok("Published"), **CONFIG_REJECTED, **FORBIDDEN, **TOO_LARGE},
)
def put_campaign(campaign_id: ConfigId, request: Annotated[ConfigText, Body()]) -> Response[Any]:
    source = object_key("campaign", campaign_id)
    try:
        result = runtime.campaign_configs().publish_campaign(
            request.yaml, source, expected_id=campaign_id, stored_source="admin-api"
        )
    except ConfigError as error:
        metrics.add_metric("ConfigsRejected", MetricUnit.Count, 1)
        return _invalid(error)
    metrics.add_metric("ConfigsLoaded", MetricUnit.Count, 1)
    return _published(result)


@router.get(
    "/admin/v1/campaigns",
    summary="Campaigns: status, version, errors",
    tags=["campaigns"],
    responses={**ok("CampaignList"), **FORBIDDEN},
)
def list_campaigns() -> dict[str, Any]:
    return {"campaigns": runtime.campaign_configs().list_campaigns()}


@router.get(
    "/admin/v1/campaigns/<campaign_id>",
    summary="A campaign: the current version and every version",
    tags=["campaigns"],
    responses={**ok("CampaignDetail | CampaignNotLoaded"), **ERRORS, **NOT_FOUND},
)
def get_campaign(campaign_id: ConfigId) -> dict[str, Any]:
    described = runtime.campaign_configs().describe(campaign_id)
    if described is None:
        raise NotFoundError(f"campaign_id: no campaign {campaign_id!r}")
    return described


@router.post(
    "/admin/v1/campaigns/<campaign_id>/status",
    summary="Pause, resume or archive a campaign",
    tags=["campaigns"],
    responses={**ok("StatusChanged"), **CONFIG_REJECTED, **FORBIDDEN, **TOO_LARGE, **NOT_FOUND},
)
def campaign_status(
    campaign_id: ConfigId, request: Annotated[StatusChange, Body()]
) -> Response[Any]:
    try:
        head = runtime.campaign_configs().set_status(campaign_id, request.status)
    except ConfigError as error:
        return _invalid(error)
    if head is None:
        raise NotFoundError(f"campaign_id: no campaign {campaign_id!r}")
    return _ok({"id": head.config_id, "status": head.status, "version": head.version})


@router.post(
    "/admin/v1/campaigns/<campaign_id>/restore",
    summary="Make an earlier version current again (as a new version)",
    tags=["campaigns"],
    responses={**ok("Published"), **CONFIG_REJECTED, **FORBIDDEN, **TOO_LARGE, **NOT_FOUND},
)
def restore_campaign(campaign_id: ConfigId, request: Annotated[Restore, Body()]) -> Response[Any]:
    try:
        result = runtime.campaign_configs().restore(campaign_id, request.version)
    except ConfigError as error:
        return _invalid(error)
    if result is None:
        raise NotFoundError(f"version: campaign {campaign_id!r} has no version {request.version}")
    return _published(result)


@router.delete(
    "/admin/v1/campaigns/<campaign_id>/promotion",
    summary="Revert auto_promote: split traffic between the variants as configured again",
    tags=["campaigns"],
    responses={**ok("PromotionEnded"), **ERRORS, **NOT_FOUND},
)
def unpromote_campaign(campaign_id: ConfigId) -> Response[Any]:
    head = runtime.campaign_configs().unpromote(campaign_id)
    if head is None:
        raise NotFoundError(f"campaign_id: no campaign {campaign_id!r}")
    return _ok(
        {"id": head.config_id, "version": head.version, "promotion": promotion_json(head.promotion)}
    )


def _checked(text: str) -> Campaign:
    return runtime.campaign_configs().validate_campaign(text, "campaign.yaml")


@router.post(
    "/admin/v1/campaigns/preview",
    summary="What a campaign would do for one user now (nothing is sent)",
    tags=["campaigns"],
    responses={**ok("Preview"), **CONFIG_REJECTED, **FORBIDDEN, **TOO_LARGE, **NOT_FOUND},
)
def preview_campaign(request: Annotated[PreviewRequest, Body()]) -> Response[Any]:
    try:
        campaign = _checked(request.yaml)
    except ConfigError as error:
        return _invalid(error)
    from nudge.domain.campaigns import preview
    from nudge.domain.messaging.consent import effective

    profile = runtime.profile_store().get(request.user_id)
    if profile is None:
        raise NotFoundError(f"user_id: no profile for {request.user_id!r}")
    devices = runtime.device_store()
    now = int(runtime.CLOCK.now().timestamp())
    engagement = get_settings().engagement
    result: dict[str, Any] = preview(
        campaign,
        profile,
        effective(devices.preferences(request.user_id), engagement.consent),
        devices.devices(request.user_id, now),
        now,
        runtime.campaign_catalog().named_segments(),
        engagement.caps,
        engagement.consent.default_timezone,
        interest_half_life_days=engagement.interest_half_life_days,
        response=runtime.regional_view(),
    )
    return _ok(result)


@router.post(
    "/admin/v1/campaigns/estimate",
    summary="Audience size of a campaign (sampled; nothing is sent)",
    tags=["campaigns"],
    responses={**ok("AudienceEstimate"), **CONFIG_REJECTED, **FORBIDDEN, **TOO_LARGE},
)
def estimate_campaign(request: Annotated[ConfigText, Body()]) -> Response[Any]:
    from functools import partial

    from nudge.domain.profiles.segments import matches

    try:
        campaign = _checked(request.yaml)
    except ConfigError as error:
        return _invalid(error)
    metrics.add_metric("AudienceEstimates", MetricUnit.Count, 1)
    return _ok(
        estimate_audience(
            campaign,
            runtime.profile_sampler(),
            partial(
                matches,
                half_life_days=get_settings().engagement.interest_half_life_days,
                response=runtime.regional_view(),
            ),
            runtime.campaign_catalog().named_segments(),
            int(runtime.CLOCK.now().timestamp()),
        )
    )


@router.put(
    "/admin/v1/segments/<name>",
    summary="Publish a named segments file (segments/<name>.yaml)",
    tags=["campaigns"],
    responses={**ok("Published"), **CONFIG_REJECTED, **FORBIDDEN, **TOO_LARGE},
)
def put_segments(name: ConfigId, request: Annotated[ConfigText, Body()]) -> Response[Any]:
    try:
        result = runtime.campaign_configs().publish_segments(
            name, request.yaml, object_key("segments", name), stored_source="admin-api"
        )
    except ConfigError as error:
        return _invalid(error)
    return _published(result)


@router.get(
    "/admin/v1/segments",
    summary="Named segments files",
    tags=["campaigns"],
    responses={**ok("SegmentsList"), **FORBIDDEN},
)
def list_segments() -> dict[str, Any]:
    return {"segments": runtime.campaign_configs().list_segments()}


# --- response by region, stage, platform and segment (domain/engagement/breakdown.py) -------

BreakdownBy = Annotated[
    Literal["country", "region", "city", "stage", "platform", "segment"],
    Query(description="the dimension to break the responses down by"),
]
RankBy = Annotated[
    Literal["open", "conversion", "opt_out"], Query(description="the rate the rows are ranked by")
]
BreakdownDays = Annotated[int, Query(ge=1, le=400, description="Window in days (today included)")]


@router.get(
    "/admin/v1/reports/campaigns/<campaign_id>/breakdown",
    summary="One campaign's open, conversion and opt-out rates by country, stage, segment...",
    description=(
        "Counted in the cell the user was in at the send (a later move does not shift "
        "them); each rate with its 95 % Wilson interval; values with fewer sends than "
        "`analytics.min_breakdown_group` are marked `enough_data: false` and ranked last."
    ),
    tags=["reports"],
    responses={**ok("BreakdownReport"), **ERRORS, **NOT_FOUND},
)
def campaign_breakdown(
    campaign_id: Annotated[str, Path(max_length=64)],
    by: BreakdownBy = "country",
    days: BreakdownDays = 30,
    rank_by: RankBy = "conversion",
) -> dict[str, Any]:
    from nudge.services.engagement.reports import UnknownCampaign

    metrics.add_metric("ReportsServed", MetricUnit.Count, 1)
    try:
        return runtime.breakdown_service().campaign(unquote(campaign_id), by, days, rank_by)
    except UnknownCampaign as error:
        raise NotFoundError(str(error)) from error


@router.get(
    "/admin/v1/reports/categories/<category>/breakdown",
    summary="A category's campaigns summed: rates by country, stage, segment...",
    tags=["reports"],
    responses={**ok("BreakdownReport"), **ERRORS, **NOT_FOUND},
)
def category_breakdown(
    category: Annotated[str, Path(max_length=64)],
    by: BreakdownBy = "country",
    days: BreakdownDays = 30,
    rank_by: RankBy = "conversion",
) -> dict[str, Any]:
    from nudge.services.engagement.breakdown import UnknownCategory

    metrics.add_metric("ReportsServed", MetricUnit.Count, 1)
    try:
        return runtime.breakdown_service().category(unquote(category), by, days, rank_by)
    except UnknownCategory as error:
        raise NotFoundError(str(error)) from error


@router.get(
    "/admin/v1/reports/regions",
    summary="Which regions respond better to a campaign category (the regional model)",
    description=(
        "Each region's open, conversion or opt-out rate shrunk toward the overall rate "
        "(empirical-Bayes beta-binomial), with its 95 % interval; `better` / `worse`: the "
        "regions whose interval is wholly above / below the overall rate. Fitted on the "
        "breakdown counters of the last `analytics.regional_model.window_days` days."
    ),
    tags=["reports"],
    responses={**ok("RegionalModelReport"), **ERRORS, **NOT_FOUND},
)
def regional_model_report(
    category: Annotated[str, Query(max_length=32, description="a campaign category")],
    metric: Annotated[
        Literal["open", "conversion", "opt_out"] | None,
        Query(description="one metric (default: all three)"),
    ] = None,
) -> dict[str, Any]:
    from nudge.services.engagement.regional_model import UnknownCategory

    metrics.add_metric("ReportsServed", MetricUnit.Count, 1)
    try:
        return runtime.regional_model_service().report(category, metric)
    except UnknownCategory as error:
        raise NotFoundError(str(error)) from error
