"""Broadcasts: one message to many users, fanned out through the pushes queue at a set pace."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from nudge.domain.templates import MessageTemplate

FCM_PROJECT_QUOTA_PER_MINUTE = 600_000


class BroadcastTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_ids: list[str] | None = Field(default=None, min_length=1, max_length=10_000)
    all_users: bool = Field(default=False, description="Everyone with a registered device")

    @model_validator(mode="after")
    def _one(self) -> BroadcastTarget:
        if (self.user_ids is not None) == self.all_users:
            raise ValueError("give exactly one of user_ids or all_users: true")
        return self


class BroadcastRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    model_config = ConfigDict(extra="forbid")

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
    finished_at: AwareDatetime | None = None


class BroadcastStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    broadcast_id: str
    step: int
