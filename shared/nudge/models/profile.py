"""A user's engagement profile: small, order-independent aggregates plus the lifecycle stage."""

from __future__ import annotations

from enum import StrEnum

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

    model_config = ConfigDict(extra="forbid")

    total: int = 0
    last_at: int = 0  # epoch seconds
    days: dict[int, int] = Field(default_factory=dict)  # UTC day number -> count


class Purchases(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = 0
    total: float = 0.0
    days: dict[int, float] = Field(default_factory=dict)  # UTC day number -> amount


class InterestScore(BaseModel):
    """A decayed score, expressed as of `as_of` (epoch seconds) so merges commute."""

    model_config = ConfigDict(extra="forbid")

    score: float
    as_of: int


class Transition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    from_stage: Stage | None
    to_stage: Stage
    at: int  # epoch seconds
    cause: str  # "event" or "schedule"


class Profile(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
