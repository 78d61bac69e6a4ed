"""The ports of push delivery: FCM, the delivery log and the fatigue ledger (re-exported by
nudge.services.ports, where the other ports are)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # type hints only
    from nudge.domain.config import CategoryCaps
    from nudge.domain.messaging.job_record import JobClaim
    from nudge.models.fatigue import Booking, Interruption
    from nudge.models.push import Delivery, Leftovers


class FcmResult(Protocol):
    ok: bool
    message_id: str | None
    error_code: str | None  # UNREGISTERED, INVALID_ARGUMENT, QUOTA_EXCEEDED, UNAVAILABLE, ...
    retry_after_s: float | None


class FcmSender(Protocol):
    def send(self, messages: Sequence[dict[str, Any]]) -> list[FcmResult]:
        """Send FCM v1 messages (one per device) and return one result each, in order."""
        ...


class DeliveryLog(Protocol):
    def claim_job(
        self, body: Delivery, devices: list[str], batch: str, now: int, expires_at: int
    ) -> JobClaim:
        """Take the right to send the job (`body`: its fields) to the free `devices` (never
        claimed under its dedupe key, or released for a retry) in SQS batch `batch`, in one
        write, after settling what earlier attempts left (see nudge.domain.messaging.
        job_record): a claim still `sending` whose batch never committed, past its lease, is
        recorded `unknown` and never sent again."""
        ...

    def record_outcomes(
        self,
        claim: JobClaim,
        body: Delivery,
        outcomes: dict[str, tuple[str, str | None]],
        counts: bool,
        expires_at: int,
    ) -> list[str]:
        """The claimed devices FCM did not accept: device -> ('failed' | 'retry' | 'unknown',
        code), in one write (none when all were accepted); `counts`: this batch counts the
        job's delivered. Returns the devices recorded."""
        ...

    def commit_batch(
        self, batch: str, counters: Mapping[str, Mapping[str, int]], expires_at: int
    ) -> None:
        """The batch's marker (its claims still `sending` were accepted) with the counters
        its jobs moved, in one write; raises when a redelivery abandoned the batch first."""
        ...

    def record(
        self,
        delivery: Delivery,
        key: str,
        expires_at: int,
        counters: Mapping[str, Mapping[str, int]] | None = None,
    ) -> bool:
        """A job-level record (`key` '<dedupe key>#-': suppressed, a template error). With
        `counters` (name -> field -> delta) it is recorded and counted exactly once: False,
        nothing written, when it was recorded before; a count that fails is finished by
        `leftovers` on the job's redelivery."""
        ...

    def leftovers(self, unknown: Delivery, expires_at: int, now: int) -> Leftovers:
        """A redelivered job's earlier attempts, settled: outcomes whose counters were not
        moved are counted (once); claims still `sending` past their lease are recorded as
        `unknown` (copies of `unknown` with their device and claim time), never re-sent."""
        ...

    def for_user(self, user_id: str) -> list[Delivery]: ...

    def mark(self, user_id: str, job_id: str, field: str, at: int) -> list[Delivery]:
        """Set `field` (opened_at or dismissed_at) on the job's records for this user, keeping
        the earliest time whatever the order events arrive in. Returns the records marked."""
        ...

    def count_once(
        self, user_id: str, marker: str, counters: Mapping[str, Mapping[str, int]], expires_at: int
    ) -> bool:
        """Move `counters` with a new marker item (key `marker`) in one write; False, nothing
        moved, when the marker exists already (counted before)."""
        ...

    def delete_user(self, user_id: str) -> int:
        """Erasure: every record of the user (outcomes, claims, markers); how many. No scan."""
        ...


class FatigueLedger(Protocol):
    """Each user's interruptions of the last 8 days, the one budget every path books into
    (`nudge.domain.messaging.fatigue`); erased with the user's delivery log."""

    def interruptions(self, user_id: str) -> list[Interruption]: ...

    def book(
        self,
        user_id: str,
        interruption: Interruption,
        caps: CategoryCaps,
        zone: str | None,
        now: int,
    ) -> Booking:
        """Count `interruption` unless a cap of its category is reached (`refused`) or its key
        is counted already (`already_booked`): a conditional write on the version read,
        re-read and decided again on a conflict (a few times, then an error)."""
        ...
