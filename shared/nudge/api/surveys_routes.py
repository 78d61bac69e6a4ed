"""Mobile API: the survey to show now, answers (whole or in parts) and "not now"."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field

from nudge import runtime
from nudge.api.http import caller_id, error_response
from nudge.api.mobile_responses import BODY_ERRORS, ERRORS, answer, busy, no_content, ok
from nudge.api.rate_limits import TOO_MANY_REQUESTS, answer_429, limit
from nudge.api.responses import Responses
from nudge.models.survey_responses import ResponseSubmission
from nudge.services.nps.surveys import (
    PromptNotFound,
    ResponseConflict,
    ScoreOffScale,
    SurveyBusy,
    SurveyNotFound,
    SurveyPaused,
)

router = APIGatewayHttpRouter()
metrics = Metrics()  # shares the function's metric set; flushed by its log_metrics
answer_429(router)
SurveyIdParam = Annotated[
    str, Path(pattern=r"^[a-z0-9][a-z0-9_\-]{0,63}$", description="The survey's id")
]
ANSWER_ERRORS: Responses = {
    **BODY_ERRORS,
    404: answer("ErrorBody", "No such active survey, or no such prompt for the caller"),
    409: answer("ErrorBody", "The survey is paused, or another submission answered already"),
    **busy("The survey state kept changing (or storage is busy); retry"),
}


class Dismissal(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    prompt_id: str = Field(min_length=1, max_length=64, description="From GET /v1/me/surveys/next")


def _locale(given: str | None) -> str | None:
    """The `locale` query parameter, else the first Accept-Language tag."""
    if given:
        return given
    header = router.current_event.headers.get("accept-language") or ""
    first = header.split(",")[0].split(";")[0].strip()
    return first if first and first != "*" and len(first) <= 35 else None


def _failure(error: Exception) -> Response[Any]:
    status = {
        SurveyNotFound: 404,
        PromptNotFound: 404,
        SurveyPaused: 409,
        ResponseConflict: 409,
        SurveyBusy: 503,
        ScoreOffScale: 400,
    }[type(error)]
    return error_response(status, str(error))


@router.get(
    "/v1/me/surveys/next",
    summary="The survey to show now (204: none)",
    description=(
        "A prompt created after the caller finished a task that triggers a survey. Texts are "
        "in the `locale` parameter's language, else Accept-Language's, else the default; "
        "`reason` has one question per NPS category (pick it by the score given)."
    ),
    tags=["surveys"],
    responses={
        **ok("SurveyPrompt", "Show this prompt"),
        **no_content("Nothing to ask now"),
        **ERRORS,
    },
)
def next_survey(
    locale: Annotated[
        str | None, Query(max_length=35, pattern=r"^[A-Za-z]{2,3}([_-][A-Za-z0-9]{2,8})*$")
    ] = None,
) -> Response[Any]:
    found = runtime.survey_service().next_for(caller_id(router), _locale(locale))
    if found is None:
        return Response(status_code=204, body="")
    metrics.add_metric("SurveyPromptsServed", MetricUnit.Count, 1)
    return Response(status_code=200, content_type=content_types.APPLICATION_JSON, body=found)


@router.post(
    "/v1/surveys/<survey_id>/responses",
    summary="Answer a prompt: the score, the comments, or all at once",
    description=(
        "Parts of one answer share `prompt_id` and each has its own `response_id`; they merge "
        "in any order. Retrying a submission with the same `response_id` is harmless "
        "(`duplicate: true`). Another submission changing what one already answered is 409."
    ),
    tags=["surveys"],
    responses={
        **ok("ResponseRecorded", "Recorded (merged into the prompt's answer)"),
        **ANSWER_ERRORS,
        **TOO_MANY_REQUESTS,
    },
)
def post_response(
    survey_id: SurveyIdParam, submission: Annotated[ResponseSubmission, Body()]
) -> Response[Any]:
    user_id = caller_id(router)
    limit(user_id, "surveys")
    try:
        outcome = runtime.survey_service().respond(user_id, survey_id, submission)
    except (
        SurveyNotFound,
        PromptNotFound,
        SurveyPaused,
        ResponseConflict,
        SurveyBusy,
        ScoreOffScale,
    ) as error:
        return _failure(error)
    if not outcome.duplicate:
        metrics.add_metric("SurveyResponseParts", MetricUnit.Count, 1)
    if outcome.routed:
        metrics.add_metric("DetractorsRouted", MetricUnit.Count, 1)
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=outcome.public()
    )


@router.post(
    "/v1/surveys/<survey_id>/dismissals",
    summary='"Not now": hide the prompt (the survey waits its dismissal cooldown)',
    tags=["surveys"],
    responses={
        **ok("DismissalRecorded", "Hidden until the cooldown ends"),
        **ANSWER_ERRORS,
        **TOO_MANY_REQUESTS,
    },
)
def post_dismissal(
    survey_id: SurveyIdParam, dismissal: Annotated[Dismissal, Body()]
) -> Response[Any]:
    user_id = caller_id(router)
    limit(user_id, "surveys")
    try:
        changed = runtime.survey_service().dismiss(user_id, survey_id, dismissal.prompt_id)
    except (SurveyNotFound, PromptNotFound, SurveyBusy) as error:
        return _failure(error)
    if changed:
        metrics.add_metric("SurveyDismissals", MetricUnit.Count, 1)
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body={"prompt_id": dismissal.prompt_id, "dismissed": True, "duplicate": not changed},
    )
