"""Admin API (IAM-authenticated): user export/erase and the lifecycle report."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal
from urllib.parse import quote, unquote

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.exceptions import BadRequestError, NotFoundError
from aws_lambda_powertools.event_handler.openapi.params import Body, Path, Query
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nudge import runtime
from nudge.api.responses import BODY_ERRORS, ERRORS, NOT_FOUND, ok
from nudge.domain.engagement.broadcast_counters import counter_name, outcome_summary
from nudge.domain.messaging.broadcast_waves import InvalidSchedule
from nudge.domain.messaging.job_ids import MAX_JOB_ID, user_job_id, user_of_job
from nudge.models.broadcast import Broadcast, BroadcastRequest
from nudge.models.keys import SYSTEM_PREFIX
from nudge.models.push import PushJob
from nudge.models.template import MessageTemplate, TemplateId
from nudge.services.messaging.broadcasts import UnknownReference, fan_out_plan

router = APIGatewayHttpRouter()
metrics = Metrics()  # shares the function's metric set; flushed by its log_metrics
UserId = Annotated[
    str, Path(min_length=1, max_length=256, description="The app's user id (JWT sub)")
]


def _user(raw: str) -> str:
    """Path ids arrive URL-encoded (`auth0%7Cabc`); a system key is never a user."""
    user_id = unquote(raw)
    if user_id.startswith(SYSTEM_PREFIX):
        raise BadRequestError(f"user_id: {SYSTEM_PREFIX!r} starts reserved keys, not user ids")
    return user_id


@router.get(
    "/admin/v1/users/<user_id>",
    summary="Export everything stored about a user",
    tags=["users"],
    responses={**ok("UserExport"), **ERRORS},
)
def export_user(
    user_id: UserId,
    history_after: Annotated[str | None, Query(max_length=300)] = None,
) -> dict[str, Any]:
    metrics.add_metric("AdminExports", MetricUnit.Count, 1)
    return runtime.privacy_service().export(_user(user_id), history_after)


@router.delete(
    "/admin/v1/users/<user_id>",
    summary="Erase a user",
    tags=["users"],
    responses={**ok("Erasure"), **ERRORS},
)
def erase_user(user_id: UserId) -> dict[str, Any]:
    metrics.add_metric("AdminErasures", MetricUnit.Count, 1)
    return runtime.privacy_service().erase(_user(user_id))


@router.get(
    "/admin/v1/users/<user_id>/decisions",
    summary="Why a user did or did not get each message, newest first",
    description=(
        "Campaign decisions (send, holdout, wait, or suppress with the rule that blocked it "
        "and its detail) recorded when their outcome changes and once a day, kept "
        "`decision_record_days` (30); and push_sender's outcome for every campaign push, "
        "broadcast and message (the delivery log, 30 days). Not recorded per user: a "
        "broadcast's audience filter (outside its segment, or without a device)."
    ),
    tags=["users"],
    responses={**ok("UserDecisions"), **ERRORS},
)
def user_decisions(
    user_id: UserId,
    campaign: Annotated[
        str | None,
        Query(min_length=1, max_length=128, description="Only this campaign (or broadcast) id"),
    ] = None,
) -> dict[str, Any]:
    metrics.add_metric("AdminDecisionReads", MetricUnit.Count, 1)
    return runtime.decision_trail().why(_user(user_id), campaign)


@router.get(
    "/admin/v1/reports/lifecycle",
    summary="Users per lifecycle stage, and transitions in the last N days",
    tags=["reports"],
    responses={**ok("LifecycleReport"), **ERRORS},
)
def lifecycle_report(
    days: Annotated[int, Query(ge=1, le=90, description="Transition window in days")] = 30,
) -> dict[str, Any]:
    metrics.add_metric("ReportsServed", MetricUnit.Count, 1)
    return runtime.reports_service().lifecycle(days)


WindowDays = Annotated[int, Query(ge=1, le=400, description="Window in days (today included)")]


@router.get(
    "/admin/v1/reports/campaigns",
    summary="Sends, suppressions by reason, holdout and conversions per campaign and variant",
    tags=["reports"],
    responses={**ok("CampaignsReport"), **ERRORS},
)
def campaigns_report(
    days: WindowDays = 30,
) -> dict[str, Any]:
    metrics.add_metric("ReportsServed", MetricUnit.Count, 1)
    return runtime.reports_service().campaigns(days)


@router.get(
    "/admin/v1/reports/campaigns/<campaign_id>",
    summary="One campaign: funnel, suppressions, failures, opt-outs, lift and guard rails",
    tags=["reports"],
    responses={**ok("CampaignReport"), **ERRORS, **NOT_FOUND},
)
def campaign_report(
    campaign_id: Annotated[str, Path(max_length=64)],
    days: WindowDays = 30,
) -> dict[str, Any]:
    from nudge.services.engagement.reports import UnknownCampaign

    metrics.add_metric("ReportsServed", MetricUnit.Count, 1)
    try:
        return runtime.reports_service().campaign(unquote(campaign_id), days)
    except UnknownCampaign as error:
        raise NotFoundError(str(error)) from error


@router.get(
    "/admin/v1/reports/sunset",
    summary="Campaigns and formats weak on opens and strong on opt-outs, with the evidence",
    tags=["reports"],
    responses={**ok("SunsetReport"), **ERRORS},
)
def sunset_report(
    days: WindowDays = 7,
) -> dict[str, Any]:
    metrics.add_metric("ReportsServed", MetricUnit.Count, 1)
    return runtime.reports_service().sunset(days)


@router.get(
    "/admin/v1/reports/engagement",
    summary="Sends, deliveries, opens and opt-outs per day, every campaign pooled",
    tags=["reports"],
    responses={**ok("EngagementReport"), **ERRORS},
)
def engagement_report(
    days: WindowDays = 30,
) -> dict[str, Any]:
    metrics.add_metric("ReportsServed", MetricUnit.Count, 1)
    return runtime.reports_service().engagement_daily(days)


@router.get(
    "/admin/v1/reports/segments",
    summary="Named segments over time: sampled size per day, response per week, alerts",
    description=(
        "Each named segment's size per day (measured once a day by the scheduler from the "
        "audience estimate's sample, with its 95 % interval), the open and conversion rates "
        "per week of the campaigns aimed at it (with intervals), and the week-over-week "
        "alerts it raised."
    ),
    tags=["reports"],
    responses={**ok("SegmentsReport"), **ERRORS},
)
def segments_report(
    days: WindowDays = 90,
) -> dict[str, Any]:
    metrics.add_metric("ReportsServed", MetricUnit.Count, 1)
    return runtime.segment_health_service().report(days)


class MessageRequest(BaseModel):
    """Send one message (transactional or internal) to one user through the push pipeline."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    template: MessageTemplate | None = Field(default=None, description="Inline template, or:")
    template_id: TemplateId | None = Field(default=None, description="A template saved before")
    data: dict[str, Any] = Field(default_factory=dict)
    dedupe_key: str = Field(min_length=1, max_length=200)
    ttl_seconds: int = Field(default=86_400, ge=60, le=28 * 86_400)
    priority: Literal["normal", "high"] = "normal"

    @model_validator(mode="after")
    def _one_template(self) -> MessageRequest:
        if (self.template is None) == (self.template_id is None):
            raise ValueError("give exactly one of template or template_id")
        return self


@router.put(
    "/admin/v1/templates/<template_id>",
    summary="Save a message template",
    tags=["messages"],
    responses={**ok(MessageTemplate, "The template as saved"), **BODY_ERRORS},
)
def put_template(
    template_id: Annotated[str, Path(min_length=1, max_length=64)],
    template: Annotated[MessageTemplate, Body()],
) -> dict[str, Any]:
    if template.id != template_id:
        raise BadRequestError(f"id: {template.id!r} does not match the path {template_id!r}")
    runtime.template_store().put(template, int(runtime.CLOCK.now().timestamp()))
    return template.model_dump(mode="json")


@router.post(
    "/admin/v1/users/<user_id>/messages",
    summary="Queue a message for a user (once per dedupe key)",
    tags=["messages"],
    responses={
        **ok("MessageQueued", "Queued for the push sender", 202),
        **BODY_ERRORS,
        **NOT_FOUND,
    },
)
def send_message(user_id: UserId, request: Annotated[MessageRequest, Body()]) -> Response[Any]:
    template = request.template
    if template is None:
        template = runtime.template_store().get(str(request.template_id))
        if template is None:
            raise NotFoundError(f"template_id: no template {request.template_id!r}")
    user = _user(user_id)
    job = PushJob(
        job_id=user_job_id(uuid.uuid4().hex, user),  # names its user: found by the id alone
        user_id=user,
        created_at=runtime.CLOCK.now(),
        source="admin",
        template=template,
        **request.model_dump(exclude={"template", "template_id"}),
    )
    runtime.push_queue().enqueue(job.model_dump_json())
    metrics.add_metric("MessagesQueued", MetricUnit.Count, 1)
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body={
            "job_id": job.job_id,
            "dedupe_key": job.dedupe_key,
            "outcome_url": f"/admin/v1/messages/{quote(job.job_id, safe='')}"
            f"?user_id={quote(user, safe='')}",
        },
    )


@router.get(
    "/admin/v1/messages/<job_id>",
    summary="What happened to a queued message, device by device",
    tags=["messages"],
    responses={**ok("MessageOutcome"), **ERRORS},
)
def message_outcome(
    job_id: Annotated[
        str,
        Path(
            min_length=1,
            max_length=3 * MAX_JOB_ID,
            description="URL-encoded. The ids POST .../messages returns and broadcasts' "
            "name their user ('<32 hex>-<user id>', under 128 characters)",
        ),
    ],
    user_id: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=256,
            description="The message's user, whose records hold it; needed when the job id "
            "does not name it (campaign pushes, messages queued before ids named their user, "
            "user ids of 95 characters or more): a 400 says so",
        ),
    ] = None,
) -> dict[str, Any]:
    job_id = unquote(job_id)
    if len(job_id) > MAX_JOB_ID:
        raise BadRequestError(f"job_id: at most {MAX_JOB_ID} characters")
    # the delivery log keeps a message in its user's records (no index by job id: issue 23)
    user = user_id if user_id is not None else user_of_job(job_id)
    if user is None:
        raise BadRequestError(
            f"user_id: job id {job_id!r} does not name its user (a campaign's, or a message's "
            "queued before job ids did) and messages are kept per user: add "
            "?user_id=<its user>"
        )
    if user.startswith(SYSTEM_PREFIX):
        raise BadRequestError(f"user_id: {SYSTEM_PREFIX!r} starts reserved keys, not user ids")
    deliveries = runtime.delivery_log().for_job(job_id, user)
    return {
        "job_id": job_id,
        "deliveries": [d.model_dump(mode="json") for d in deliveries],
        "status": "unknown or pending" if not deliveries else "processed",
    }


@router.post(
    "/admin/v1/broadcasts",
    summary="Send one message to many users, paced within FCM's quota",
    tags=["messages"],
    responses={
        **ok("BroadcastCreated", "Started", 202),
        **BODY_ERRORS,
        **NOT_FOUND,
    },
)
def create_broadcast(request: Annotated[BroadcastRequest, Body()]) -> Response[Any]:
    try:
        broadcast = runtime.broadcast_service().create(request)
    except UnknownReference as error:
        raise NotFoundError(str(error)) from error
    except InvalidSchedule as error:
        raise BadRequestError(str(error)) from error
    users = broadcast.estimate["estimate"] if broadcast.estimate else 0
    plan = fan_out_plan(users, request.rate_per_minute)
    return Response(
        status_code=202,
        content_type=content_types.APPLICATION_JSON,
        body={
            "broadcast_id": broadcast.broadcast_id,
            "status": broadcast.status,
            "plan": plan,
            "estimate": broadcast.estimate,
            "schedule": _schedule(broadcast),
        },
    )


@router.get(
    "/admin/v1/broadcasts/<broadcast_id>",
    summary="A broadcast's progress",
    tags=["messages"],
    responses={**ok("BroadcastProgress"), **ERRORS, **NOT_FOUND},
)
def broadcast_progress(
    broadcast_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> dict[str, Any]:
    broadcast = runtime.broadcast_service().store.get(broadcast_id)
    if broadcast is None:
        raise NotFoundError(f"broadcast_id: no broadcast {broadcast_id!r}")
    return _progress(broadcast)


@router.delete(
    "/admin/v1/broadcasts/<broadcast_id>",
    summary="Cancel a broadcast",
    tags=["messages"],
    responses={**ok("BroadcastProgress"), **ERRORS, **NOT_FOUND},
)
def cancel_broadcast(
    broadcast_id: Annotated[str, Path(min_length=1, max_length=64)],
) -> dict[str, Any]:
    broadcast = runtime.broadcast_service().cancel(broadcast_id)
    if broadcast is None:
        raise NotFoundError(f"broadcast_id: no broadcast {broadcast_id!r}")
    return _progress(broadcast)


def _progress(broadcast: Broadcast) -> dict[str, Any]:
    total = broadcast.target.total()  # a finished list: its length, kept without the ids
    name = counter_name(broadcast.broadcast_id)
    counted = dict(runtime.profile_store().counters([name]).get(name, {}))
    for reason, users in broadcast.withheld.items():  # never queued, so never counted there
        counted[f"suppressed.{reason}"] = counted.get(f"suppressed.{reason}", 0) + users
    return {
        "broadcast_id": broadcast.broadcast_id,
        "status": broadcast.status,
        "enqueued": broadcast.enqueued,
        "total": total,
        "scanned": broadcast.scanned,  # users looked at so far (a filtered target sends fewer)
        "steps_done": broadcast.step,
        "created_at": broadcast.created_at.isoformat(),
        "finished_at": broadcast.finished_at.isoformat() if broadcast.finished_at else None,
        # delivered and opened once per user, failures per device, suppressions per user
        "outcomes": outcome_summary(counted),
        "estimate": broadcast.estimate,
        "schedule": _schedule(broadcast),
    }


def _schedule(broadcast: Broadcast) -> dict[str, Any]:
    waves = broadcast.waves
    done = 0
    if waves:  # the current wave is done once the broadcast is
        done = broadcast.wave + (1 if broadcast.status == "done" else 0)
    due = broadcast.due_at()
    ahead = due is not None and broadcast.status == "running" and due > runtime.CLOCK.now()
    return {
        "start_at": broadcast.start_at.isoformat() if broadcast.start_at else None,
        "local_time": broadcast.local_time.strftime("%H:%M") if broadcast.local_time else None,
        "local_date": broadcast.local_date.isoformat() if broadcast.local_date else None,
        "next_start": due.isoformat() if ahead and due is not None else None,
        "waves_planned": len(waves),
        "waves_done": done,
        "waves": [
            {"utc_offset_minutes": w.utc_offset_minutes, "at": w.at.isoformat()} for w in waves
        ],
    }
