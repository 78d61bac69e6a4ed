"""Broadcast fan-out in paced steps: each step queues a chunk of pushes, schedules the next
step, and only then records its progress.

That order leaves every failure to SQS's redelivery of the step: until the progress is
written the step runs again from the same cursor (its pushes carry deterministic job ids and
the broadcast's dedupe key, so push_sender's claims send nobody a second push), and a step
delivered after its progress was written is recognised by its number and skipped. A next
step that arrives before its predecessor's progress is written fails and is redelivered.

A scheduled broadcast waits without holding anything: a step that arrives before its start
(SQS delays a message by 15 minutes at most) sends itself again, delayed by what is left, and
writes nothing. A local-time broadcast runs in waves (nudge.domain.messaging.broadcast_waves):
each wave waits for its instant, walks the whole audience and queues only its own users, so
no push waits inside SQS (a standard queue holds ~120,000 in flight) and a cancel stops every
wave not yet begun. A user's wave follows from their zone as resolved when a wave walks past
them: one whose zone changes between waves to a zone whose wave is still ahead is queued
again (same job id and dedupe key: push_sender sends once), and one who moves to a zone whose
wave has run is not sent (their wall time has passed there).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any, Protocol
from zoneinfo import ZoneInfoNotFoundError

from nudge.clock import Clock
from nudge.domain.config import DEFAULT_INTEREST_HALF_LIFE_DAYS
from nudge.domain.engagement.regional_model import view_of
from nudge.domain.messaging.broadcast_waves import checked_waves, wave_index
from nudge.domain.messaging.delivery_time import (
    UNKNOWN_TIMEZONE,
    user_zone,
    withheld_without_zone,
)
from nudge.domain.profiles.segments import matches
from nudge.models.broadcast import (
    Broadcast,
    BroadcastRequest,
    BroadcastStep,
    BroadcastTarget,
    ZoneHints,
)
from nudge.models.profile import Profile
from nudge.models.push import PushJob
from nudge.models.segment import Segment
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

    def users_with_zones(
        self, cursor: str | None, limit: int
    ) -> tuple[dict[str, ZoneHints], str | None]:
        """A page of users_with_devices with what is known of each one's zone (read with the
        page, not per user)."""
        ...

    def zone_hints(self, user_ids: Sequence[str]) -> dict[str, ZoneHints]:
        """The same for named users (a listed target); a user with nothing stored: none."""
        ...


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


def delay_until(due: datetime, now: datetime) -> int:
    """Seconds to delay a step by so it arrives at `due` (at most SQS's longest delay)."""
    return max(0, min(MAX_STEP_DELAY_S, math.ceil((due - now).total_seconds())))


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
    default_zone: str | None = None  # the app default, only when ops set one explicitly
    # a segment's audience estimate (the campaigns' sampled one, injected by the runtime)
    estimator: Callable[[Segment], dict[str, Any]] | None = None

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
        now = self.clock.now()
        broadcast = Broadcast(
            broadcast_id=uuid.uuid4().hex,
            template=template,
            created_at=now,
            target=target,
            waves=checked_waves(request, now),
            estimate=self._estimate(target),
            start_at=request.start_at.astimezone(UTC) if request.start_at else None,
            **request.model_dump(exclude={"template", "template_id", "target", "start_at"}),
        )
        self.store.create(broadcast)
        first = broadcast.due_at()
        self.steps.schedule(
            BroadcastStep(broadcast_id=broadcast.broadcast_id, step=0),
            0 if first is None else delay_until(first, now),
        )
        return broadcast

    def _estimate(self, target: BroadcastTarget) -> dict[str, Any] | None:
        """The audience size before anything is sent: a list's length, else the campaigns'
        sampled estimate over the profiles (users with a profile: one without a device is
        suppressed when sent)."""
        listed = target.total()
        if listed is not None:
            return {"estimate": listed, "interval_95": [listed, listed], "complete": True}
        if self.estimator is None:
            return None
        found = self.estimator(target.audience() or Segment())
        return {key: found[key] for key in ("estimate", "interval_95", "complete")}

    def run_step(self, step: BroadcastStep) -> str:
        broadcast = self.store.get(step.broadcast_id)
        if broadcast is None or broadcast.status != "running" or broadcast.step > step.step:
            return "skipped"  # cancelled, finished, or this step was already done
        if broadcast.step < step.step:  # scheduled, but its predecessor's write is not in
            raise StepNotReady(
                f"broadcast {step.broadcast_id}: step {step.step} before step {broadcast.step}"
                " recorded its progress; retried"
            )
        now = self.clock.now()
        due = broadcast.due_at()
        if due is not None and now < due:  # early: send itself again for then; nothing written
            self.steps.schedule(step, delay_until(due, now))
            return "waiting"
        size, delay = step_plan(broadcast.rate_per_minute)
        withheld = dict(broadcast.withheld)
        if broadcast.waves:
            hints, cursor = self._next_page(broadcast, size)
            scanned = len(hints) if broadcast.wave == 0 else 0  # every wave walks everyone
            users, unknown = self._of_this_wave(broadcast, hints)
            if unknown:
                withheld[UNKNOWN_TIMEZONE] = withheld.get(UNKNOWN_TIMEZONE, 0) + len(
                    self._in_audience(broadcast, unknown, now)
                )
        else:
            users, cursor = self._next_users(broadcast, size)
            scanned = len(users)
        users = self._in_audience(broadcast, users, now)
        self.jobs.enqueue_many(
            [
                PushJob(
                    job_id=f"{broadcast.broadcast_id}-{user_id}"[:128],
                    user_id=user_id,
                    template=broadcast.template,
                    data=broadcast.data,
                    dedupe_key=broadcast.dedupe_key,
                    created_at=broadcast.sends_from(),
                    ttl_seconds=broadcast.ttl_seconds,
                    source=f"broadcast:{broadcast.broadcast_id}",
                ).model_dump_json()
                for user_id in users
            ]
        )
        wave = broadcast.wave
        if broadcast.waves:  # a wave's page is paced by what it queued, not what it read
            delay = min(MAX_STEP_DELAY_S, math.ceil(60 * len(users) / broadcast.rate_per_minute))
            if cursor is None and wave + 1 < len(broadcast.waves):
                wave += 1  # the next wave walks everyone again, from its own instant
                delay = delay_until(broadcast.waves[wave].at, now)
        running = cursor is not None or wave != broadcast.wave
        updated = broadcast.model_copy(
            update={
                "step": step.step + 1,
                "cursor": cursor,
                "wave": wave,
                "withheld": withheld,
                "enqueued": broadcast.enqueued + len(users),
                "scanned": broadcast.scanned + scanned,
                "status": "running" if running else "done",
                "finished_at": None if running else now,
            }
        )
        if running:  # before the progress: a failure here repeats this step
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
        published = self.catalog.current() if self.catalog else None
        named = published.segments if published else {}
        response = view_of(published.response_model) if published else None
        profiles = self.profiles.get_many(users)
        epoch = int(now.timestamp())
        half_life = self.interest_half_life_days

        def member(profile: Profile) -> bool:
            return matches(
                audience, profile, epoch, named, half_life_days=half_life, response=response
            )

        return [user for user in users if (p := profiles.get(user)) is not None and member(p)]

    def _next_page(
        self, broadcast: Broadcast, size: int
    ) -> tuple[dict[str, ZoneHints], str | None]:
        """The next users of a local-time broadcast with their zone hints, read by the page."""
        if broadcast.target.user_ids is not None:
            users, cursor = self._next_users(broadcast, size)
            known = self.audience.zone_hints(users) if users else {}
            return {user: known.get(user, ZoneHints()) for user in users}, cursor
        return self.audience.users_with_zones(broadcast.cursor, size)

    def _of_this_wave(
        self, broadcast: Broadcast, hints: dict[str, ZoneHints]
    ) -> tuple[list[str], list[str]]:
        """(the users of the current wave, those withheld for want of a zone). A user with no
        zone is seen by every wave but dealt with by the first only: a transactional message
        goes to them then, any other is withheld with reason unknown_timezone."""
        assert broadcast.local_date is not None and broadcast.local_time is not None
        # push_sender's order: the profile is read (batched) only where neither the
        # preferences nor a device names a zone
        unnamed = [
            user
            for user, hint in hints.items()
            if not hint.preferred and not any(device.timezone for device in hint.devices)
        ]
        profiles = self.profiles.get_many(unnamed) if unnamed and self.profiles else {}
        waves_of: dict[str, int | None] = {}  # per zone, within this page
        mine: list[str] = []
        unknown: list[str] = []
        for user, hint in hints.items():
            zone, _ = user_zone(
                hint.preferred,
                partial(tuple, hint.devices),
                partial(profiles.get, user),
                self.default_zone,
            )
            if zone is not None and zone not in waves_of:
                try:
                    waves_of[zone] = wave_index(
                        broadcast.waves, zone, broadcast.local_date, broadcast.local_time
                    )
                except (ZoneInfoNotFoundError, ValueError):  # a zone tzdata no longer knows
                    waves_of[zone] = None
            index = waves_of[zone] if zone is not None else None
            if index is None:
                unknown.append(user)
            elif index == broadcast.wave:
                mine.append(user)
        if broadcast.wave != 0:
            return mine, []
        if not withheld_without_zone(broadcast.template.category):
            return mine + unknown, []
        return mine, unknown

    def _next_users(self, broadcast: Broadcast, size: int) -> tuple[list[str], str | None]:
        if broadcast.target.user_ids is not None:
            start = int(broadcast.cursor or 0)
            chosen = broadcast.target.user_ids[start : start + size]
            end = start + len(chosen)
            return chosen, str(end) if end < len(broadcast.target.user_ids) else None
        users, cursor = self.audience.users_with_devices(broadcast.cursor, size)
        return users, cursor
