"""A push job's delivery record: one item per user and dedupe key holding every device's claim.

A send costs one write, the claim. A device stays `sending` when FCM accepts it: readers take
`sending` as sent. Only what is rare writes again: an FCM error (`failed`), a retryable one
(`retry`: claimable again), and a redelivery that settles an earlier attempt. Each claim
names the SQS batch (`batch`) that took it; at the end of the batch push_sender writes that
batch's marker in one write with all the counters its jobs moved (`committed`). So a claim
still `sending` is known sent (and counted) once its batch is committed; a claim whose batch
has no marker past the lease is `abandoned` by the redelivery that finds it (a conditional
put of the marker, so a late commit of that batch fails) and recorded `unknown`: FCM may
have accepted it, so it is never sent again and not counted.

A job's `delivered` counts once: `count_batch` names the batch that counts it (the batch of
the attempt that claims devices while nothing counted it). A batch in which no device of
the job was accepted gives it up (the failure write clears it); one that was abandoned
hands it, with the failures it recorded, to the settling attempt's batch (`owed`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal

LEASE_S = 300  # a claim still `sending` after this, its batch never committed: unknown
SENDING, RETRY, FAILED, UNKNOWN = "sending", "retry", "failed", "unknown"
BatchState = Literal["committed", "abandoned"] | None


@dataclass(frozen=True)
class DeviceClaim:
    status: str  # sending | retry | failed | unknown
    at: int  # when it was claimed
    batch: str  # the SQS batch that claimed it (or recorded its failure)
    reason: str | None = None  # FCM's error code (failed, retry), lease_expired (unknown)
    job: str | None = None  # the job that claimed it, when not the one that made the record


@dataclass(frozen=True)
class JobRecord:
    devices: dict[str, DeviceClaim]
    count_batch: str | None = None
    version: int = 0


def encode_devices(devices: dict[str, DeviceClaim]) -> str:
    rows = {
        d: [c.status, c.at, c.batch, c.reason, *([c.job] if c.job else [])]
        for d, c in sorted(devices.items())
    }
    return json.dumps(rows, separators=(",", ":"))


def decode_devices(text: str) -> dict[str, DeviceClaim]:
    return {d: DeviceClaim(*row) for d, row in json.loads(text).items()}


@dataclass
class ClaimPlan:
    """What one attempt of a job does to its record before sending: `record` to write
    (None: nothing changed), `claimed` devices to send now, `settled` (device, claimed at)
    recorded `unknown` now, `owed` counts ('delivered', None) / ('failed', code) this
    attempt's batch moves for earlier abandoned ones, `busy_until` the end of the lease of a
    claim whose batch may still commit, `count_batch` the batch counting the job."""

    record: JobRecord | None
    claimed: list[str] = field(default_factory=list)
    settled: list[tuple[str, int]] = field(default_factory=list)
    owed: list[tuple[str, str | None]] = field(default_factory=list)
    busy_until: int | None = None
    count_batch: str | None = None


def plan_claim(
    current: JobRecord | None,
    wanted: list[str],
    taken: set[str],
    batch: str,
    now: int,
    state_of: Callable[[str], BatchState],
    abandon: Callable[[str], BatchState],
    counted_before: bool = False,
    job: str | None = None,
) -> ClaimPlan:
    """Settle earlier attempts (`state_of` reads a batch's marker, `abandon` puts one for a
    batch past the lease) and claim the `wanted` devices that are free: never claimed, or
    released for a retry, and not `taken` by a per-device item of the old layout. `job`:
    the claiming job's id when another job (same dedupe key) made the record."""
    devices = dict(current.devices) if current else {}
    count_batch = current.count_batch if current else None
    plan = ClaimPlan(None)
    states: dict[str, BatchState] = {}

    def state(of: str, claimed_at: int) -> BatchState:
        if of not in states:
            states[of] = state_of(of)
        if states[of] is None and claimed_at < now - LEASE_S:  # its sender is gone
            states[of] = abandon(of)
        return states[of]

    for device, claim in sorted(devices.items()):
        if claim.batch == batch or claim.status not in (SENDING, FAILED):
            continue
        verdict = state(claim.batch, claim.at)
        if verdict is None:  # its batch may still commit: come back when the lease is over
            if claim.status == SENDING:
                end = claim.at + LEASE_S
                plan.busy_until = end if plan.busy_until is None else max(plan.busy_until, end)
        elif verdict == "abandoned" and claim.status == SENDING:
            devices[device] = replace(claim, status=UNKNOWN, reason="lease_expired")
            plan.settled.append((device, claim.at))
        elif verdict == "abandoned":  # a failure its batch never counted: ours counts it
            devices[device] = replace(claim, batch=batch)
            plan.owed.append(("failed", claim.reason))

    if count_batch is not None and count_batch != batch:
        ats = [c.at for c in devices.values() if c.batch == count_batch]
        verdict = state(count_batch, max(ats, default=now - 2 * LEASE_S))
        if verdict == "abandoned":  # it never counted the job: hand it on
            count_batch = None
            if any(
                c.status == SENDING and c.batch != batch and states.get(c.batch) == "committed"
                for c in devices.values()
            ):
                count_batch = batch
                plan.owed.append(("delivered", None))
    plan.claimed = [
        d for d in wanted if d not in taken and (d not in devices or devices[d].status == RETRY)
    ]
    for device in plan.claimed:
        devices[device] = DeviceClaim(SENDING, now, batch, job=job)
    if count_batch is None and plan.claimed and not counted_before:
        count_batch = batch
    plan.count_batch = count_batch
    if current is None or devices != current.devices or count_batch != current.count_batch:
        plan.record = JobRecord(devices, count_batch, (current.version if current else 0) + 1)
    return plan


def plan_outcomes(
    current: JobRecord, batch: str, outcomes: dict[str, tuple[str, str | None]], counts: bool
) -> tuple[JobRecord | None, list[str]]:
    """After FCM: the devices this batch claimed that were not accepted, as `failed` or
    `retry` (device -> (status, code)); `counts`: the batch counts the job's delivered (a
    device was accepted, or it was owed). The record to write (None: nothing to write) and
    the devices recorded now."""
    devices = dict(current.devices)
    recorded = []
    for device, (status, code) in sorted(outcomes.items()):
        claim = devices.get(device)
        if claim is not None and claim.status == SENDING and claim.batch == batch:
            devices[device] = replace(claim, status=status, reason=code)
            recorded.append(device)
    count_batch = current.count_batch
    if count_batch == batch and not counts:
        count_batch = None  # nothing accepted in this batch: a later one counts the job
    if not recorded and count_batch == current.count_batch:
        return None, []
    return JobRecord(devices, count_batch, current.version + 1), recorded


@dataclass(frozen=True)
class JobClaim:
    """One attempt's claim of a job's devices: what to send, and what it found settled."""

    user_id: str
    dedupe_key: str
    batch: str
    record: JobRecord  # as written (its version guards the outcome write)
    claimed: list[str]
    settled: list[tuple[str, int]]
    owed: list[tuple[str, str | None]]
    busy_until: int | None
    count_batch: str | None


def summary_status(devices: dict[str, DeviceClaim]) -> str:
    """The record's status as one word (a reader of raw items, e.g. the chaos run's account):
    `sent` once a device is, else `unknown`, `failed`, or `retry`."""
    statuses = {c.status for c in devices.values()}
    for status, word in ((SENDING, "sent"), (UNKNOWN, UNKNOWN), (FAILED, FAILED)):
        if status in statuses:
            return word
    return RETRY
