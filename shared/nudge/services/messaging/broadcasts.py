"""Broadcast fan-out in paced steps: each step queues a chunk of pushes, schedules the next
step, and only then records its progress.

That order leaves every failure to SQS's redelivery of the step: until the progress is
written the step runs again from the same cursor (its pushes carry deterministic job ids and
the broadcast's dedupe key, so push_sender's claims send nobody a second push), and a step
delivered after its progress was written is recognised by its number and skipped. A next
step that arrives before its predecessor's progress is written fails and is redelivered.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from nudge.clock import Clock
from nudge.domain.config import DEFAULT_INTEREST_HALF_LIFE_DAYS
from nudge.domain.profiles.segments import matches
from nudge.models.broadcast import Broadcast, BroadcastRequest, BroadcastStep, BroadcastTarget
from nudge.models.profile import Profile
from nudge.models.push import PushJob
from nudge.services.ports import CampaignCatalog

STEP_MAX_JOBS = 1_000  # per invocation: well inside a Lambda's time
MAX_STEP_DELAY_S = 900  # SQS's longest delay


class BroadcastStore(Protocol):
    def create(self, broadcast: Broadcast) -> None: ...

    def get(self, broadcast_id: str) -> Broadcast | None: ...

    def advance(self, broadcast: Broadcast, from_step: int) -> bool:
        """Save the broadcast if it is still running at step `from_step` and no user was
        erased from it since this store read it (so a step's progress never undoes a cancel
        or an erasure written after the step read the broadcast)."""
        ...


class StepQueue(Protocol):
    def schedule(self, step: BroadcastStep, delay_s: int) -> None: ...


class JobQueue(Protocol):
    def enqueue_many(self, bodies: list[str]) -> None: ...


class ProfileReader(Protocol):
    def get_many(self, user_ids: Sequence[str]) -> dict[str, Profile]: ...


class Audience(Protocol):
    def users_with_devices(
        self, cursor: str | None, limit: int
    ) -> tuple[list[str], str | None]: ...


class UnknownReference(LookupError):
    """A request names something (a template, a segment) that does not exist."""


class UnknownTemplate(UnknownReference):
    pass


class StepNotReady(RuntimeError):
    """A step whose predecessor has not recorded its progress yet, or whose list changed
    while it ran: SQS delivers it again."""


def step_plan(rate_per_minute: int) -> tuple[int, int]:
    """(jobs per step, seconds between steps) that keep the average within the rate."""
    size = min(STEP_MAX_JOBS, rate_per_minute)
    delay = math.ceil(60 * size / rate_per_minute)
    return size, min(delay, MAX_STEP_DELAY_S)


def fan_out_plan(users: int, rate_per_minute: int) -> dict[str, Any]:
    size, delay = step_plan(rate_per_minute)
    steps = math.ceil(users / size)
    return {
        "users": users,
        "rate_per_minute": rate_per_minute,
        "jobs_per_step": size,
        "seconds_between_steps": delay,
        "steps": steps,
        "minutes": round(steps * delay / 60, 1),
    }


@dataclass
class BroadcastService:
    store: BroadcastStore
    steps: StepQueue
    jobs: JobQueue
    audience: Audience
    clock: Clock
    templates: Any = None  # a template store (get by id), when requests name one
    profiles: ProfileReader | None = None  # for segment targets
    catalog: CampaignCatalog | None = None  # named segments
    # EngagementConfig.interest_half_life_days: segment targets read interests as ingest wrote
    interest_half_life_days: float = DEFAULT_INTEREST_HALF_LIFE_DAYS

    def create(self, request: BroadcastRequest) -> Broadcast:
        template = request.template
        if template is None:
            template = self.templates.get(request.template_id) if self.templates else None
            if template is None:
                raise UnknownTemplate(f"template_id: no template {request.template_id!r}")
        target = request.target
        if target.segment_name is not None:
            named = self.catalog.current().segments if self.catalog else {}
            if target.segment_name not in named:
                raise UnknownReference(f"target.segment_name: no segment {target.segment_name!r}")
            # resolved now: editing the segment later does not change a running broadcast
            target = BroadcastTarget(segment=named[target.segment_name])
        broadcast = Broadcast(
            broadcast_id=uuid.uuid4().hex,
            template=template,
            created_at=self.clock.now(),
            target=target,
            **request.model_dump(exclude={"template", "template_id", "target"}),
        )
        self.store.create(broadcast)
        self.steps.schedule(BroadcastStep(broadcast_id=broadcast.broadcast_id, step=0), 0)
        return broadcast

    def run_step(self, step: BroadcastStep) -> str:
        broadcast = self.store.get(step.broadcast_id)
        if broadcast is None or broadcast.status != "running" or broadcast.step > step.step:
            return "skipped"  # cancelled, finished, or this step was already done
        if broadcast.step < step.step:  # scheduled, but its predecessor's write is not in
            raise StepNotReady(
                f"broadcast {step.broadcast_id}: step {step.step} before step {broadcast.step}"
                " recorded its progress; retried"
            )
        size, delay = step_plan(broadcast.rate_per_minute)
        users, cursor = self._next_users(broadcast, size)
        scanned = len(users)
        now = self.clock.now()
        users = self._in_audience(broadcast, users, now)
        self.jobs.enqueue_many(
            [
                PushJob(
                    job_id=f"{broadcast.broadcast_id}-{user_id}"[:128],
                    user_id=user_id,
                    template=broadcast.template,
                    data=broadcast.data,
                    dedupe_key=broadcast.dedupe_key,
                    created_at=broadcast.created_at,
                    ttl_seconds=broadcast.ttl_seconds,
                    source=f"broadcast:{broadcast.broadcast_id}",
                ).model_dump_json()
                for user_id in users
            ]
        )
        updated = broadcast.model_copy(
            update={
                "step": step.step + 1,
                "cursor": cursor,
                "enqueued": broadcast.enqueued + len(users),
                "scanned": broadcast.scanned + scanned,
                "status": "running" if cursor is not None else "done",
                "finished_at": None if cursor is not None else now,
            }
        )
        if cursor is not None:  # before the progress: a failure here repeats this step
            self.steps.schedule(
                BroadcastStep(broadcast_id=broadcast.broadcast_id, step=step.step + 1), delay
            )
        if not self.store.advance(updated, step.step):
            now_stored = self.store.get(step.broadcast_id)
            if now_stored and now_stored.status == "running" and now_stored.step == step.step:
                # a user was erased from the list while this step ran: SQS delivers the step
                # again, which reads the list without them (pushes already queued are
                # claimed once per device by push_sender; the extra next step is skipped)
                raise StepNotReady(
                    f"broadcast {step.broadcast_id}: step {step.step}'s list changed while it "
                    "ran; retried"
                )
            # a concurrent delivery of this step got there first (the extra next step it
            # scheduled is skipped), or it was cancelled meanwhile (its pushes are not sent)
            return "skipped"
        return updated.status

    def cancel(self, broadcast_id: str) -> Broadcast | None:
        for _attempt in range(6):
            broadcast = self.store.get(broadcast_id)
            if broadcast is None or broadcast.status != "running":
                return broadcast
            cancelled = broadcast.model_copy(
                update={"status": "cancelled", "finished_at": self.clock.now()}
            )
            if self.store.advance(cancelled, broadcast.step):
                return cancelled
        return self.store.get(broadcast_id)

    def _in_audience(self, broadcast: Broadcast, users: list[str], now: datetime) -> list[str]:
        audience = broadcast.target.audience()
        if audience is None or not users:
            return users
        if self.profiles is None:
            raise RuntimeError("a segment target needs the profiles store")
        named = self.catalog.current().segments if self.catalog else {}
        profiles = self.profiles.get_many(users)
        epoch = int(now.timestamp())
        return [
            user
            for user in users
            if (profile := profiles.get(user)) is not None
            and matches(
                audience, profile, epoch, named, half_life_days=self.interest_half_life_days
            )
        ]

    def _next_users(self, broadcast: Broadcast, size: int) -> tuple[list[str], str | None]:
        if broadcast.target.user_ids is not None:
            start = int(broadcast.cursor or 0)
            chosen = broadcast.target.user_ids[start : start + size]
            end = start + len(chosen)
            return chosen, str(end) if end < len(broadcast.target.user_ids) else None
        users, cursor = self.audience.users_with_devices(broadcast.cursor, size)
        return users, cursor
