"""Broadcasts: one message to many users, fanned out through the pushes queue at a set pace."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from nudge.models.device import Device
from nudge.models.segment import Scalar, Segment
from nudge.models.template import MessageTemplate, TemplateId

FCM_PROJECT_QUOTA_PER_MINUTE = 600_000
MAX_SCHEDULE_AHEAD = timedelta(days=35)  # a start further out is most likely a typo
_HH_MM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


@dataclass(frozen=True)
class ZoneHints:
    """What the devices table knows of a user's zone, for the one resolver (user_zone)."""

    preferred: str | None = None  # their preferences' timezone
    devices: tuple[Device, ...] = ()  # in device-id order, as push_sender lists them


class Wave(BaseModel):
    """One wave of a local-time broadcast: the users whose zone has this UTC offset then."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    utc_offset_minutes: int = Field(description="e.g. 330 for UTC+05:30")
    at: AwareDatetime = Field(description="when the wall time arrives at this offset (UTC)")


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
    # Nudge's own, never a request's: once the fan-out ended, a user list (personal data that
    # has done its job) is kept only as its length
    user_count: SkipJsonSchema[int | None] = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _one(self) -> BroadcastTarget:
        given = [
            self.user_ids is not None,
            self.user_count is not None,
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

    def total(self) -> int | None:
        """How many users a list names (None: a segment, attributes or everyone)."""
        return len(self.user_ids) if self.user_ids is not None else self.user_count


class BroadcastRequest(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    template: MessageTemplate | None = None
    template_id: TemplateId | None = None
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
    start_at: AwareDatetime | None = Field(
        default=None,
        description="Start at this instant (ISO 8601 with an offset), within 35 days",
    )
    local_time: time | None = Field(
        default=None,
        description="HH:MM: deliver at this wall time in each user's zone (with local_date)",
    )
    local_date: date | None = Field(default=None, description="The day of local_time")

    @field_validator("local_time", mode="before")
    @classmethod
    def _wall_clock(cls, value: object) -> object:
        if value is None or isinstance(value, time):
            return value
        if not isinstance(value, str) or not _HH_MM.fullmatch(value):
            raise ValueError("use HH:MM on a 24-hour clock, e.g. 09:00 (no offset: local time)")
        return value

    @model_validator(mode="after")
    def _one_schedule(self) -> BroadcastRequest:
        if self.start_at is not None and not (self.local_time is self.local_date is None):
            raise ValueError("give start_at or local_time with local_date, not both")
        if (self.local_time is None) != (self.local_date is None):
            missing = "local_date" if self.local_date is None else "local_time"
            raise ValueError(f"{missing}: local_time and local_date go together")
        return self

    @model_validator(mode="after")
    def _a_target_to_send_to(self) -> BroadcastRequest:
        if self.target.user_count is not None:
            raise ValueError("target.user_count: set by Nudge when a fan-out ends, not given")
        return self

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
    start_at: AwareDatetime | None = None  # a fixed instant: the first step waits for it
    local_time: time | None = None  # or this wall time on local_date in each user's zone
    local_date: date | None = None
    waves: list[Wave] = Field(default_factory=list)  # planned at creation (local time only)
    wave: int = 0  # the wave being walked; waves before it are done
    withheld: dict[str, int] = Field(default_factory=dict)  # reason -> users never queued
    estimate: dict[str, Any] | None = None  # the audience estimate made at creation

    def due_at(self) -> datetime | None:
        """When the current step may run: the current wave's instant, or the fixed start."""
        if self.waves:
            return self.waves[min(self.wave, len(self.waves) - 1)].at
        return self.start_at

    def sends_from(self) -> datetime:
        """What its pushes count their time to live from: the moment they were meant to go."""
        return self.due_at() or self.created_at

    def kept(self) -> Broadcast:
        """What is stored: once the fan-out ended (done or cancelled), a user list only as
        its length, so a finished broadcast keeps no one's id."""
        if self.status == "running" or self.target.user_ids is None:
            return self
        return self.model_copy(
            update={"target": BroadcastTarget(user_count=len(self.target.user_ids))}
        )

    def lists(self, user_id: str) -> bool:
        return user_id in (self.target.user_ids or ())

    def without_user(self, user_id: str, now: datetime) -> Broadcast:
        """The broadcast with `user_id` erased from its list. The cursor (an index into the
        list) moves back if they were before it, so nobody else is skipped; a list left
        empty ends the fan-out."""
        users = self.target.user_ids
        if self.status != "running" or users is None or user_id not in users:
            return self.kept()
        rest = [u for u in users if u != user_id]
        if not rest:
            return self.model_copy(
                update={
                    "status": "done",
                    "finished_at": now,
                    "cursor": None,
                    "target": BroadcastTarget(user_count=0),
                }
            )
        cursor = None
        if self.cursor is not None:
            start = int(self.cursor)
            cursor = str(start - users[:start].count(user_id))
        return self.model_copy(update={"target": BroadcastTarget(user_ids=rest), "cursor": cursor})


class BroadcastStep(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    broadcast_id: str
    step: int
