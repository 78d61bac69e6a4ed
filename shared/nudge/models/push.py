"""Push jobs (what producers put on the pushes queue) and delivery outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from nudge.models.template import MessageTemplate

DELIVERY_LOG_DAYS = 30  # how long the delivery log keeps a job's records (TTL)

# unknown: a claim whose sender died (or whose outcome write never landed) past its lease:
# FCM may have accepted the message, so it is never sent again (at most once per device)
Outcome = Literal["sent", "suppressed", "failed", "deferred", "unknown"]


class PushJob(BaseModel):
    """One message for one user (all of their devices), sent at most once per dedupe key."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    job_id: str = Field(min_length=1, max_length=128)
    user_id: str = Field(min_length=1, max_length=256)
    template: MessageTemplate
    data: dict[str, Any] = Field(default_factory=dict)
    dedupe_key: str = Field(
        min_length=1, max_length=200, description="Same key, same user: delivered once"
    )
    created_at: AwareDatetime
    ttl_seconds: int = Field(default=86_400, ge=60, le=28 * 86_400)
    priority: Literal["normal", "high"] = "normal"
    source: str = Field(default="api", max_length=64)


class Delivery(BaseModel):
    """The delivery log's record of one job on one device (or on the user, when no device)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    job_id: str
    user_id: str
    device_id: str | None
    dedupe_key: str
    category: str
    template_id: str
    outcome: Outcome
    reason: str | None = None  # consent, quiet_hours, expired, no_device, UNREGISTERED, ...
    at: int
    fcm_message_id: str | None = None
    # the job's source: campaign:<id>, broadcast:<id>, admin, api (None: logged before it was)
    source: str | None = None
    opened_at: int | None = None
    dismissed_at: int | None = None


@dataclass(frozen=True)
class Leftovers:
    """What a redelivered job's earlier attempts left in the delivery log, settled now:
    `settled`, the records counted or marked `unknown` just now; `busy_until`, when the lease
    of a claim of the job still `sending` ends (None: there is none)."""

    settled: list[Delivery] = field(default_factory=list)
    busy_until: int | None = None
