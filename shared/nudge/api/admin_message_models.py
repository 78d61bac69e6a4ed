"""What the admin API answers about messages and broadcasts (the rest is in admin_models.py,
whose docstring says how these models are used)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from nudge.api.admin_models import Shape
from nudge.models.push import Delivery

# --- messages and broadcasts ---------------------------------------------------------------


class MessageQueued(Shape):
    job_id: str = Field(description="Names its user when the user id is under 95 characters")
    dedupe_key: str
    outcome_url: str = Field(description="GET it for the outcome (with the user, always found)")


class FanOutPlan(Shape):
    users: int
    rate_per_minute: int
    jobs_per_step: int
    seconds_between_steps: int
    steps: int
    minutes: float


class BroadcastEstimate(Shape):
    """Made at creation: a list's length, else the campaigns' sampled estimate over the
    profiles (one without a push device is suppressed when sent)."""

    estimate: int
    interval_95: list[int] = Field(min_length=2, max_length=2)
    complete: bool = Field(description="every user was counted: the estimate is exact")


class PlannedWave(Shape):
    utc_offset_minutes: int = Field(description="e.g. 330 for UTC+05:30")
    at: str = Field(description="when the local time arrives at this offset (UTC)")


class BroadcastSchedule(Shape):
    """When it sends: at once, at a fixed instant, or a wall time in each user's zone."""

    start_at: str | None = Field(description="the fixed start (UTC); null for the others")
    local_time: str | None = Field(description="HH:MM in each user's zone, on local_date")
    local_date: str | None
    next_start: str | None = Field(description="the start still ahead (UTC), if any")
    waves_planned: int = Field(description="one per UTC offset (local time only)")
    waves_done: int
    waves: list[PlannedWave]


class BroadcastCreated(Shape):
    broadcast_id: str
    status: Literal["running", "cancelled", "done"]
    plan: FanOutPlan
    estimate: BroadcastEstimate | None
    schedule: BroadcastSchedule


class BroadcastOutcomes(Shape):
    """Delivered and opened once per user, failures per device, suppressions per user."""

    delivered: int
    failed: int
    failed_by_code: dict[str, int]
    suppressed: int
    suppressed_by_reason: dict[str, int]
    opened: int
    open_rate: float | None = Field(description="opened/delivered (0..1); null before any")
    opt_outs: int
    opt_outs_by_kind: dict[str, int]


class BroadcastProgress(Shape):
    broadcast_id: str
    status: Literal["running", "cancelled", "done"]
    enqueued: int
    total: int | None = Field(description="null for a segment or attribute target")
    scanned: int = Field(description="users looked at so far (a filtered target sends fewer)")
    steps_done: int
    created_at: str
    finished_at: str | None
    outcomes: BroadcastOutcomes = Field(
        description="suppressions include users withheld before queueing (unknown_timezone)"
    )
    estimate: BroadcastEstimate | None
    schedule: BroadcastSchedule


class MessageOutcome(Shape):
    job_id: str
    deliveries: list[Delivery]
    status: Literal["unknown or pending", "processed"]
