"""Admin API (IAM): NPS survey configs (publish, list, status), reports and the CSV export."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit

from nudge import runtime
from nudge.api.campaign_routes import ConfigText, StatusChange, _invalid, _ok, _published
from nudge.api.http import error_response
from nudge.api.responses import CONFIG_REJECTED, ERRORS, FORBIDDEN, NOT_FOUND, TOO_LARGE, ok
from nudge.configfiles import ConfigError
from nudge.models.configs import object_key
from nudge.models.survey import SurveyConfig, SurveyStatus

router = APIGatewayHttpRouter()
metrics = Metrics()
SurveyIdParam = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$", description="survey id")
]
Since = Annotated[str, Query(pattern=r"^[1-9][0-9]{0,2}d$", description="e.g. 30d (max 730d)")]


def _config(survey_id: str) -> SurveyConfig:
    """The survey's current config, whatever its status (archived surveys keep reports)."""
    head = runtime.config_store().head("survey", survey_id)
    if head is None:
        raise NotFoundError(f"survey_id: no survey {survey_id!r}")
    config = SurveyConfig.model_validate(head.model)
    return config.model_copy(update={"status": SurveyStatus(head.status)})


@router.put(
    "/admin/v1/surveys/<survey_id>",
    summary="Publish a survey version",
    tags=["surveys"],
    responses={**ok("Published"), **CONFIG_REJECTED, **FORBIDDEN, **TOO_LARGE},
)
def put_survey(survey_id: SurveyIdParam, request: Annotated[ConfigText, Body()]) -> Response[Any]:
    try:
        result = runtime.survey_configs().publish(
            request.yaml,
            object_key("survey", survey_id),
            expected_id=survey_id,
            stored_source="admin-api",
        )
    except ConfigError as error:
        metrics.add_metric("ConfigsRejected", MetricUnit.Count, 1)
        return _invalid(error)
    metrics.add_metric("ConfigsLoaded", MetricUnit.Count, 1)
    return _published(result)


@router.get(
    "/admin/v1/surveys",
    summary="Surveys: status, version, errors",
    tags=["surveys"],
    responses={**ok("SurveyList"), **FORBIDDEN},
)
def list_surveys() -> dict[str, Any]:
    return {"surveys": runtime.survey_configs().list_surveys()}


@router.get(
    "/admin/v1/surveys/<survey_id>",
    summary="A survey and its versions",
    tags=["surveys"],
    responses={**ok("SurveyDetail | SurveyNotLoaded"), **ERRORS, **NOT_FOUND},
)
def get_survey(survey_id: SurveyIdParam) -> dict[str, Any]:
    described = runtime.survey_configs().describe(survey_id)
    if described is None:
        raise NotFoundError(f"survey_id: no survey {survey_id!r}")
    return described


@router.post(
    "/admin/v1/surveys/<survey_id>/status",
    summary="Pause, resume or archive a survey",
    tags=["surveys"],
    responses={**ok("StatusChanged"), **CONFIG_REJECTED, **FORBIDDEN, **TOO_LARGE, **NOT_FOUND},
)
def survey_status(
    survey_id: SurveyIdParam, request: Annotated[StatusChange, Body()]
) -> Response[Any]:
    try:  # bringing an archived survey back: its named segments must still exist
        head = runtime.survey_configs().set_status(survey_id, request.status)
    except ConfigError as error:
        return _invalid(error)
    if head is None:
        raise NotFoundError(f"survey_id: no survey {survey_id!r}")
    return _ok({"id": head.config_id, "status": head.status, "version": head.version})


@router.get(
    "/admin/v1/reports/nps/<survey_id>",
    summary="NPS trend, breakdown (with 95% CI) and comment themes",
    tags=["surveys"],
    responses={**ok("NpsReport"), **ERRORS, **NOT_FOUND},
)
def nps_report(
    survey_id: SurveyIdParam,
    period: Annotated[Literal["weekly", "daily"], Query()] = "weekly",
    by: Annotated[
        Literal["lifecycle", "platform", "app_version", "country"] | None, Query()
    ] = None,
    since: Since = "30d",
    min_responses: Annotated[int, Query(ge=1, le=10_000)] = 30,
    themes: Annotated[bool, Query()] = True,
) -> Response[Any]:
    config = _config(survey_id)
    try:
        report = runtime.nps_reports().report(
            config, period, by, int(since[:-1]), min_responses, with_themes=themes
        )
    except ValueError as error:
        return error_response(400, str(error))
    return _ok(report)


@router.get(
    "/admin/v1/surveys/<survey_id>/responses.csv",
    summary="The survey's answers as CSV (spreadsheet-safe)",
    tags=["surveys"],
    responses={
        200: {
            "description": "One row per answer (attachment <survey_id>-responses.csv)",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **ERRORS,
        **NOT_FOUND,
    },
)
def responses_csv(
    survey_id: SurveyIdParam,
    since: Since = "90d",
    include_user_id: Annotated[bool, Query()] = False,
) -> Response[str]:
    _config(survey_id)
    days = int(since[:-1])
    if days > 730:
        return error_response(400, "since: at most 730d")
    text = runtime.nps_reports().export_csv(survey_id, days, include_user_id)
    metrics.add_metric("NpsExports", MetricUnit.Count, 1)
    return Response(
        status_code=200,
        content_type="text/csv; charset=utf-8",
        body=text,
        headers={"Content-Disposition": f'attachment; filename="{survey_id}-responses.csv"'},
    )
