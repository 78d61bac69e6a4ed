"""A user's engagement profile: small, order-independent aggregates plus the lifecycle stage."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Stage(StrEnum):
    NEW = "new"
    ACTIVE = "active"
    LOYAL = "loyal"
    AT_RISK = "at_risk"
    DORMANT = "dormant"
    REACTIVATED = "reactivated"


class NameCounts(BaseModel):
    """Counts of one event name: all-time total, latest time, per-day counts (rolling windows)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    total: int = 0
    last_at: int = 0  # epoch seconds
    days: dict[int, int] = Field(default_factory=dict)  # UTC day number -> count


class Purchases(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    count: int = 0
    total: float = 0.0
    days: dict[int, float] = Field(default_factory=dict)  # UTC day number -> amount


class InterestScore(BaseModel):
    """A decayed score, expressed as of `as_of` (epoch seconds) so merges commute."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    score: float
    as_of: int


class Transition(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    from_stage: Stage | None
    to_stage: Stage
    at: int  # epoch seconds
    cause: str  # "event" or "schedule"


AttributeValue = str | int | float | bool


class Attribute(BaseModel):
    """One user attribute, last writer wins by the time it was observed (order-independent)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    value: AttributeValue
    at: int


class LastLocation(BaseModel):
    """The last known area, coarsened to ~100 m; dropped after the location retention."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    lat: float
    lng: float
    at: int


class CampaignMark(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    sends: int = 0
    last_at: int = 0


class SendRecord(BaseModel):
    """A send this user received (kept 7 days): the global frequency caps count these."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    at: int
    campaign: str
    category: str
    # Added for engagement analytics (absent from profiles stored before: defaults apply).
    variant: str = ""
    job: str | None = None  # the push job id the app names in push_opened / opt-out events
    opened: bool = False  # its open is counted (once)
    # the user's response cell at the send (domain/engagement/breakdown.py): its open and
    # opt-out count there even if the user has moved since
    cell: str = ""


class PendingTrigger(BaseModel):
    """A trigger that fires later (delay, or a send window): evaluated when due."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    campaign: str
    occurrence: str
    due_at: int
    since: int  # the triggering moment: 'unless' events after it cancel the send
    data: dict[str, AttributeValue | None] = Field(default_factory=dict)


class Exposure(BaseModel):
    """A send (or a holdout's would-be send) waiting for its conversion goal."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    campaign: str
    variant: str  # 'holdout' for the control group
    goal: str
    at: int
    until: int
    cell: str = ""  # the response cell at the send: its conversion counts there


class OutboxJob(BaseModel):
    """A decided send, kept until its queue message is surely out (re-sent on redelivery)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    campaign: str
    variant: str
    occurrence: str
    at: int
    data: dict[str, AttributeValue | None] = Field(default_factory=dict)


class Messaging(BaseModel):
    """Per-user campaign state, written in the same conditional write as the profile."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    campaigns: dict[str, CampaignMark] = Field(default_factory=dict)
    sends: list[SendRecord] = Field(default_factory=list)
    pending: list[PendingTrigger] = Field(default_factory=list)
    occurrences: dict[str, int] = Field(default_factory=dict)  # decided occurrence -> at
    schedule_next: dict[str, int] = Field(default_factory=dict)  # campaign -> next slot
    exposures: list[Exposure] = Field(default_factory=list)
    outbox: list[OutboxJob] = Field(default_factory=list)
    # messages already blamed for an opt-out (or an unattributed kind) -> when: counted once
    opt_outs: dict[str, int] = Field(default_factory=dict)
    # campaign -> (outcome, at) last written to the decision record (kept a day): an outcome
    # that repeats is recorded once a day, not at every event (domain/engagement/decision_record)
    decided: dict[str, tuple[str, int]] = Field(default_factory=dict)

    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in type(self).model_fields)


class Profile(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid")

    user_id: str
    version: int = 0
    first_seen: int | None = None
    last_seen: int | None = None
    stage: Stage | None = None
    stage_since: int | None = None
    active_days: dict[int, int] = Field(default_factory=dict)  # day -> events (last 60 days)
    counts: dict[str, NameCounts] = Field(default_factory=dict)
    purchases: Purchases = Field(default_factory=Purchases)
    interests: dict[str, InterestScore] = Field(default_factory=dict)
    transitions: list[Transition] = Field(default_factory=list)  # most recent last
    # Short hashes of event ids applied recently -> when applied: closes the window between
    # the profile write and the history write (see services/processing.py).
    recent: dict[str, int] = Field(default_factory=dict)
    due_at: int | None = None  # next stage check (epoch seconds, hour aligned)
    # Set when the user erased their data: events received before it are dropped, not revived.
    erased_at: int | None = None
    attributes: dict[str, Attribute] = Field(default_factory=dict)
    location: LastLocation | None = None
    messaging: Messaging = Field(default_factory=Messaging)
    # Fences the user is in (a GeofenceState as JSON: no positions, it expires). Parsed only
    # where geofences are handled, so other handlers' cold starts skip its models.
    geo: dict[str, Any] | None = None
