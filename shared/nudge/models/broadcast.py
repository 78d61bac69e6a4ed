"""Broadcasts: one message to many users, fanned out through the pushes queue at a set pace."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from nudge.models.segment import Scalar, Segment
from nudge.models.template import MessageTemplate

FCM_PROJECT_QUOTA_PER_MINUTE = 600_000


class BroadcastTarget(BaseModel):
    """Who gets it: a list of users, everyone with a device, or those of them in a segment."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    user_ids: list[str] | None = Field(default=None, min_length=1, max_length=10_000)
    all_users: bool = Field(default=False, description="Everyone with a registered device")
    attributes: dict[str, list[Scalar]] | None = Field(
        default=None,
        max_length=20,
        description="Users whose attributes match, e.g. {team: [payments]}",
    )
    segment: Segment | None = Field(default=None, description="An audience, as in campaigns")
    segment_name: str | None = Field(
        default=None, max_length=64, description="A named segment (resolved when created)"
    )

    @model_validator(mode="after")
    def _one(self) -> BroadcastTarget:
        given = [
            self.user_ids is not None,
            self.all_users,
            self.attributes is not None,
            self.segment is not None,
            self.segment_name is not None,
        ]
        if sum(given) != 1:
            raise ValueError(
                "give exactly one of user_ids, all_users: true, attributes, segment, segment_name"
            )
        return self

    def audience(self) -> Segment | None:
        """The filter applied to everyone with a device (None: no filter)."""
        if self.attributes is not None:
            return Segment.model_validate({"attributes": self.attributes})
        return self.segment


class BroadcastRequest(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    template: MessageTemplate | None = None
    template_id: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    target: BroadcastTarget
    dedupe_key: str = Field(min_length=1, max_length=200)
    rate_per_minute: int = Field(
        default=500_000,
        ge=60,
        le=FCM_PROJECT_QUOTA_PER_MINUTE,
        description="Pushes queued per minute (FCM allows 600,000 a minute per project)",
    )
    ttl_seconds: int = Field(default=86_400, ge=60, le=28 * 86_400)

    @model_validator(mode="after")
    def _one_template(self) -> BroadcastRequest:
        if (self.template is None) == (self.template_id is None):
            raise ValueError("give exactly one of template or template_id")
        return self


class Broadcast(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    broadcast_id: str
    status: Literal["running", "cancelled", "done"] = "running"
    template: MessageTemplate
    data: dict[str, Any] = Field(default_factory=dict)
    target: BroadcastTarget
    dedupe_key: str
    rate_per_minute: int
    ttl_seconds: int
    created_at: AwareDatetime
    step: int = 0  # the next step to run; a redelivered older step is recognised and skipped
    cursor: str | None = None  # where the next step starts
    enqueued: int = 0
    scanned: int = 0  # users looked at (a filtered broadcast enqueues fewer)
    finished_at: AwareDatetime | None = None


class BroadcastStep(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    broadcast_id: str
    step: int
