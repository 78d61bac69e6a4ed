"""push_sender: consent, quiet hours, once-per-key delivery, FCM results, token clean-up.

At most once per dedupe key and device, whatever fails after FCM may have accepted a message
(a write denied or throttled, a timeout, a crash): a job's devices are claimed in one write,
which is also the record of the ones FCM accepts; only refusals write again. Each SQS batch
ends with one write (`end_batch`): its marker, which vouches for its claims, and every
counter its jobs moved. A claim whose batch never committed is recorded `unknown` by the
job's redelivery past its lease, never sent again (see nudge.domain.messaging.job_record).

A broadcast's job is suppressed (`cancelled`) once its broadcast is cancelled: the status is
read once per broadcast per batch of jobs (`new_batch`), not per job.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeAlias

from aws_lambda_powertools import Logger
from pydantic import ValidationError

from nudge.clock import DAY, Clock, to_epoch
from nudge.domain.config import EngagementConfig
from nudge.domain.engagement.attribution import EngagementRecord, RecordKind
from nudge.domain.engagement.broadcast_counters import CANCELLED, broadcast_of, outcome_delta
from nudge.domain.engagement.counters import campaign_variant_of, storage_field
from nudge.domain.messaging.consent import effective
from nudge.domain.messaging.fatigue import counted as budgeted
from nudge.domain.messaging.push import Gate, build_messages, gate
from nudge.domain.profiles.aggregates import OPT_OUT_EVENT
from nudge.domain.profiles.ingest import describe_validation_error
from nudge.models.device import Device, Preferences
from nudge.models.events import IncomingEvent, QueuedBatch
from nudge.models.fatigue import Interruption
from nudge.models.push import DELIVERY_LOG_DAYS, Delivery, PushJob
from nudge.services.messaging.timezones import push_zone
from nudge.services.ports import (
    BroadcastStatuses,
    DeliveryLog,
    DeviceStore,
    EventPublisher,
    FatigueLedger,
    FcmResult,
    FcmSender,
    ProfileReader,
)
from nudge.templating import TemplateError

RETRYABLE = {"QUOTA_EXCEEDED", "UNAVAILABLE", "INTERNAL", "UNKNOWN", "DEADLINE_EXCEEDED"}
TOKEN_GONE = {"UNREGISTERED", "INVALID_ARGUMENT", "SENDER_ID_MISMATCH"}
MAX_BACKOFF_S = 900
FATIGUE_CAP = "fatigue_cap"  # suppression reason: the user's caps are reached for today/week
logger = Logger(child=True)


def campaign_variant(job: PushJob) -> tuple[str, str] | None:
    """(campaign, variant) of a campaign's job: its template id is '<campaign>.<variant>'."""
    return campaign_variant_of(job.template.id, job.source)


def _counted(
    job: PushJob, kind: RecordKind, at: int, reason: str | None = None
) -> dict[str, dict[str, int]] | None:
    """The counter delta of one outcome: the campaign's day counter, or the broadcast's
    (None: neither's job)."""
    context = campaign_variant(job)
    if context is None:
        return outcome_delta(job.source, kind, reason)
    campaign, variant = context
    record = EngagementRecord(
        f"{kind}:{job.job_id}",
        kind,
        at,
        campaign,
        variant,
        category=job.template.category,
        reason=reason,
    )
    name, counter_field = storage_field(record)
    return {name: {counter_field: 1}}


# a job runs as a generator (`_steps`): it yields its claimed messages, FCM's answers come back
Messages: TypeAlias = list[dict[str, Any]]
Steps: TypeAlias = Generator[Messages, list[FcmResult], "JobResult"]
StepOutcome: TypeAlias = "JobResult | Exception | Messages"


def _advance(steps: Steps, answer: list[FcmResult] | Exception | None) -> StepOutcome:
    """Run a job on to its send (its messages) or its end (its result, or its error):
    from its start (None), with FCM's answers for its messages, or with FCM's error."""
    try:
        if answer is None:
            return next(steps)
        if isinstance(answer, Exception):
            return steps.throw(answer)
        return steps.send(answer)
    except StopIteration as done:
        result: JobResult = done.value
        return result
    except Exception as error:
        return error


class PoisonJob(ValueError):
    """A job that can never be sent as it is: left to reach the DLQ."""


@dataclass
class JobResult:
    """What the handler does with the message: done, or hide it for `delay_s` and retry."""

    done: bool
    delay_s: int = 0
    deliveries: list[Delivery] = field(default_factory=list)
    # (kind, category) -> count, for CloudWatch metrics: sent / failed devices
    engagement: Counter[tuple[str, str]] = field(default_factory=Counter)


@dataclass
class PushService:
    devices: DeviceStore
    log: DeliveryLog
    fcm: FcmSender
    config: EngagementConfig
    clock: Clock
    events: EventPublisher | None = None  # uninstalls (UNREGISTERED) as opt-out events
    broadcasts: BroadcastStatuses | None = None  # a cancelled broadcast's jobs: not sent
    fatigue: FatigueLedger | None = None  # the one budget every non-transactional job books
    profiles: ProfileReader | None = None  # a zone from the profile, when nothing else names one
    # broadcast id -> cancelled, as read in this batch (a cancel applies from the next batch)
    _cancelled: dict[str, bool] = field(default_factory=dict, init=False, repr=False)
    # the SQS batch: its id (claims name it) and the counters its jobs moved, summed
    _batch: str | None = field(default=None, init=False, repr=False)
    _counters: dict[str, Counter[str]] = field(default_factory=dict, init=False, repr=False)
    _in_batch: bool = field(default=False, init=False, repr=False)
    _tainted: bool = field(default=False, init=False, repr=False)  # see `end_batch`
    # the batch's users' devices and preferences, read together (`_prefetch`)
    _partitions: dict[str, tuple[list[Device], Preferences | None]] = field(
        default_factory=dict, init=False, repr=False
    )
    _fcm_ready: bool = field(default=False, init=False, repr=False)

    def new_batch(self) -> None:
        """Start an SQS batch (committed by `end_batch`): forget the broadcast statuses read
        for the previous one. Without it each `process` is a batch of its own."""
        self._cancelled.clear()
        self._partitions.clear()
        self._fcm_ready = False
        self._batch, self._counters, self._in_batch, self._tainted = None, {}, True, False

    def _cancelled_broadcast(self, job: PushJob) -> bool:
        broadcast_id = broadcast_of(job.source)
        if broadcast_id is None or self.broadcasts is None:
            return False
        if broadcast_id not in self._cancelled:
            self._cancelled[broadcast_id] = self.broadcasts.status(broadcast_id) == "cancelled"
        return self._cancelled[broadcast_id]

    def process_batch(self, records: Sequence[tuple[str, int]]) -> list[JobResult | Exception]:
        """Process an SQS batch's jobs (body, receive count) in order, each one's result or
        its error (that record alone fails). Every job is gated and claimed first, then the
        claimed messages of all of them go to FCM in one send (one wait, not one per job),
        then each job records its outcomes: claim -> send -> record, per job."""
        self._prefetch([body for body, _ in records])
        results: list[JobResult | Exception | Messages] = []
        waiting: list[tuple[int, Steps, Messages]] = []
        for index, (body, receive_count) in enumerate(records):
            steps = self._steps(body, receive_count)
            results.append(_advance(steps, None))
            outcome = results[index]
            if isinstance(outcome, list):  # claimed: its messages wait for the one send
                waiting.append((index, steps, outcome))
        if waiting:
            everything = [message for _, _, messages in waiting for message in messages]
            try:
                answers: list[FcmResult] | Exception = self.fcm.send(everything)
            except Exception as error:  # every claim of the send: recorded unknown, not resent
                answers = error
            start = 0
            for index, steps, messages in waiting:
                if isinstance(answers, Exception):
                    results[index] = _advance(steps, answers)
                else:
                    results[index] = _advance(steps, answers[start : start + len(messages)])
                start += len(messages)
        return [r for r in results if not isinstance(r, list)]

    def _prefetch(self, bodies: Sequence[str]) -> None:
        """Read the batch's users' devices and preferences together (see DeviceStore.
        partitions), not job by job; a body that is not a job is left to fail on its own."""
        users = set()
        for body in bodies:
            try:
                job = PushJob.model_validate_json(body)
            except ValidationError:
                continue
            if not self._cancelled_broadcast(job):  # a cancelled one's job reads nothing
                users.add(job.user_id)
        if not users:
            return
        try:
            self._partitions.update(
                self.devices.partitions(sorted(users), to_epoch(self.clock.now()))
            )
        except Exception:  # each job reads its own, and fails (alone) if that fails too
            logger.exception("batch's devices not read together")

    def _user(self, user_id: str, at: int) -> tuple[list[Device], Preferences | None]:
        if user_id in self._partitions:
            return self._partitions[user_id]
        return self.devices.devices(user_id, at), self.devices.preferences(user_id)

    def process(self, body: str, receive_count: int = 1) -> JobResult:
        if self._in_batch:
            return self._process(body, receive_count)
        try:  # a batch of one job
            result = self._process(body, receive_count)
        except BaseException:
            self._batch, self._counters, self._tainted = None, {}, False  # never committed
            raise
        self.end_batch()
        return result

    def _process(self, body: str, receive_count: int) -> JobResult:
        steps = self._steps(body, receive_count)
        outcome = _advance(steps, None)
        if isinstance(outcome, list):
            try:
                answer: list[FcmResult] | Exception = self.fcm.send(outcome)
            except Exception as error:  # thrown into the job: its claims are recorded unknown
                answer = error
            outcome = _advance(steps, answer)
        if isinstance(outcome, Exception):
            raise outcome
        assert not isinstance(outcome, list), "a job sends once"
        return outcome

    def _steps(self, body: str, receive_count: int) -> Steps:
        """One job: gate and claim, yield the claimed messages (the send is the caller's,
        for the whole batch), take FCM's answers (or its error, thrown in), record them."""
        try:
            job = PushJob.model_validate_json(body)
        except ValidationError as error:
            raise PoisonJob(describe_validation_error(error)) from error
        now = self.clock.now()
        at = to_epoch(now)
        keep_until = at + DELIVERY_LOG_DAYS * DAY
        devices: list[Device] = []
        if self._cancelled_broadcast(job):  # before anything else: no device or consent reads
            verdict = Gate("suppress", CANCELLED)
        else:
            devices, stored_preferences = self._user(job.user_id, at)
            preferences = effective(stored_preferences, self.config.consent)
            default_zone = self.config.consent.default_timezone
            # the campaigns' order; the profile is read only if nothing else names a zone
            zone = push_zone(job.user_id, preferences, devices, self.profiles, default_zone)
            verdict = gate(job, preferences, devices, now, zone)

        def delivery(
            outcome: str,
            device_id: str | None,
            reason: str | None = None,
            message_id: str | None = None,
        ) -> Delivery:
            return Delivery(
                job_id=job.job_id,
                user_id=job.user_id,
                device_id=device_id,
                dedupe_key=job.dedupe_key,
                category=job.template.category,
                template_id=job.template.id,
                outcome=outcome,
                reason=reason,
                at=at,
                fcm_message_id=message_id,
                source=job.source,
            )

        outcome = JobResult(done=True)
        busy_until = None
        if receive_count > 1:  # a redelivery: first settle what the earlier attempts left
            leftovers = self.log.leftovers(
                delivery("unknown", None, "lease_expired"), keep_until, at
            )
            busy_until = leftovers.busy_until
            for settled in leftovers.settled:
                outcome.deliveries.append(settled)
                if settled.outcome in ("sent", "failed") and settled.device_id is not None:
                    outcome.engagement[(settled.outcome, job.template.category)] += 1
            if leftovers.settled:
                logger.warning(
                    "settled an earlier attempt's records",
                    job_id=job.job_id,
                    settled={d.device_id or "-": d.outcome for d in leftovers.settled},
                )

        def finished(result: JobResult) -> JobResult:
            """A claim of this job still within its lease: come back once it is over (it is
            recorded by its sender, or as unknown then)."""
            if busy_until is not None:
                result.done = False
                result.delay_s = max(result.delay_s, busy_until - at + 1)
            return result

        if verdict.action == "suppress":
            record = delivery("suppressed", None, verdict.reason)
            counters = _counted(job, "suppressed", at, verdict.reason)
            self.log.record(record, f"{job.dedupe_key}#-", keep_until, counters)
            outcome.deliveries.append(record)
            return finished(outcome)
        if verdict.action == "defer":
            assert verdict.until is not None
            outcome.done = False
            outcome.delay_s = max(1, int((verdict.until - now).total_seconds()))
            outcome.deliveries.append(delivery("deferred", None, verdict.reason))
            return finished(outcome)

        try:
            messages = build_messages(job, devices, job.data, now)
        except TemplateError as error:
            record = delivery("failed", None, f"template: {error}"[:300])
            counters = _counted(job, "failed", at, "template")
            self.log.record(record, f"{job.dedupe_key}#-", keep_until, counters)
            outcome.deliveries.append(record)
            return finished(outcome)

        # the fatigue budget, before any claim: a redelivery finds its key already booked
        over_budget = self._book(job, zone, at)
        if over_budget is not None:
            record = delivery("suppressed", None, FATIGUE_CAP)
            counters = _counted(job, "suppressed", at, FATIGUE_CAP)
            self.log.record(record, f"{job.dedupe_key}#-", keep_until, counters)
            outcome.deliveries.append(record)
            logger.info("over the fatigue budget", job_id=job.job_id, detail=over_budget)
            return finished(outcome)

        # credentials and client first (send nothing): a failure here leaves nothing claimed
        if not self._fcm_ready:
            self.fcm.send([])
            self._fcm_ready = self._in_batch  # once per batch
        by_device = {device.device_id: message for device, message in messages}
        claim = self.log.claim_job(
            delivery("sent", None), list(by_device), self._batch_id(), at, keep_until
        )
        for device_id, claimed_at in claim.settled:  # an earlier attempt's, never sent again
            unknown = delivery("unknown", device_id, "lease_expired")
            outcome.deliveries.append(unknown.model_copy(update={"at": claimed_at}))
        for kind, code in claim.owed:  # what an abandoned batch never counted
            self._tally(_counted(job, "delivered" if kind == "delivered" else "failed", at, code))
        if claim.busy_until is not None:
            busy_until = max(busy_until or 0, claim.busy_until)
        if not claim.claimed:
            return finished(outcome)  # every device already has it: a redelivery
        # From here a claim is never taken again (FCM may have accepted its message): a write
        # that fails below leaves it `sending` in a batch that never commits, recorded
        # `unknown` by the job's redelivery past the lease, never sent a second time.
        claimed = [(device_id, by_device[device_id]) for device_id in claim.claimed]
        try:
            results = yield [message for _, message in claimed]
        except Exception:  # FCM may have accepted them: recorded unknown, never sent again
            lost: dict[str, tuple[str, str | None]] = {
                device_id: ("unknown", "send_interrupted") for device_id in claim.claimed
            }
            self._record_or_taint(claim, delivery("sent", None), lost, keep_until)
            raise
        not_accepted: dict[str, tuple[str, str | None]] = {}
        accepted = False
        for (device_id, message), result in zip(claimed, results, strict=True):
            if result.ok:
                accepted = True
                outcome.deliveries.append(delivery("sent", device_id, message_id=result.message_id))
                outcome.engagement[("sent", job.template.category)] += 1
            elif result.error_code in RETRYABLE:
                not_accepted[device_id] = ("retry", result.error_code)
                backoff = min(MAX_BACKOFF_S, 2 ** min(receive_count, 9))
                wait = max(backoff, int(result.retry_after_s or 0))
                outcome.done = False
                outcome.delay_s = max(outcome.delay_s, wait)
                outcome.deliveries.append(delivery("deferred", device_id, result.error_code))
            else:
                if result.error_code in TOKEN_GONE:  # uninstalled, or a token FCM refuses
                    self._forget_token(job.user_id, device_id, message["token"])
                if result.error_code == "UNREGISTERED":
                    self._publish_uninstall(job, device_id, message["token"], now)
                not_accepted[device_id] = ("failed", result.error_code)
        counts = claim.count_batch == self._batch_id() and (
            accepted or ("delivered", None) in claim.owed
        )
        if accepted and counts and ("delivered", None) not in claim.owed:
            self._tally(_counted(job, "delivered", at))
        try:
            recorded = self.log.record_outcomes(
                claim, delivery("sent", None), not_accepted, counts, keep_until
            )
        except Exception:  # settled by the redelivery (nothing is sent again), in its TTL
            logger.exception("outcomes not recorded", job_id=job.job_id)
            self._tainted = True  # its claims still `sending` are not all accepted ones
            outcome.done = False
            backoff = min(MAX_BACKOFF_S, 2 ** min(receive_count, 9))
            outcome.delay_s = max(outcome.delay_s, backoff)
            return finished(outcome)
        for device_id in recorded:
            status, code = not_accepted[device_id]
            if status == "failed":
                self._tally(_counted(job, "failed", at, code))
                outcome.deliveries.append(delivery("failed", device_id, code))
                outcome.engagement[("failed", job.template.category)] += 1
        if not outcome.done and job.created_at + timedelta(seconds=job.ttl_seconds) <= now:
            outcome.done = True  # too late to retry: what failed stays failed
        return finished(outcome)

    # ---- the SQS batch: its claims and what they count, committed in one write at its end
    def _batch_id(self) -> str:
        if self._batch is None:
            self._batch = uuid.uuid4().hex
        return self._batch

    def _forget_token(self, user_id: str, device_id: str, token: str) -> None:
        """Best effort, before the outcome is recorded (which must happen): a token that
        stays is refused again by FCM on the next send, and deleted then."""
        try:
            self.devices.delete_device(user_id, device_id, only_if_token=token)
        except Exception:
            logger.exception("token not deleted", device=device_id)

    def _record_or_taint(
        self, claim: Any, body: Delivery, outcomes: dict[str, tuple[str, str | None]], at: int
    ) -> None:
        """Record what is known of claims whose send was interrupted; if even that fails, the
        batch may not vouch for its claims: it is never committed (see `end_batch`)."""
        try:
            self.log.record_outcomes(claim, body, outcomes, False, at)
        except Exception:
            logger.exception("outcomes not recorded", dedupe_key=claim.dedupe_key)
            self._tainted = True

    def _tally(self, counters: dict[str, dict[str, int]] | None) -> None:
        for name, deltas in (counters or {}).items():
            self._counters.setdefault(name, Counter()).update(deltas)

    def end_batch(self) -> None:
        """Commit the batch: its marker (its claims still `sending` were accepted by FCM)
        with every counter its jobs moved, in one write. If this fails, the batch's jobs come
        back and its claims are recorded `unknown` past their lease: raise, so they do."""
        batch, counters, tainted = self._batch, self._counters, self._tainted
        self._batch, self._counters, self._tainted = None, {}, False
        if batch is None:
            return  # nothing claimed
        if tainted:  # a claim's outcome is unrecorded: the redelivery settles the batch
            raise RuntimeError(f"batch {batch} not committed: an outcome write failed")
        expires_at = to_epoch(self.clock.now()) + DELIVERY_LOG_DAYS * DAY
        self.log.commit_batch(batch, {n: dict(c) for n, c in counters.items()}, expires_at)

    def _book(self, job: PushJob, zone: Callable[[], str | None], at: int) -> str | None:
        """Count the job in the user's fatigue budget, by local days in the zone the gate
        uses (None: rolling 24 h / 7 d): which cap refused it (None: booked, now or by an
        earlier delivery, or a job no cap applies to)."""
        config = self.config
        caps = budgeted(
            job.template.category, job.source, config.caps, config.fatigue_exempt_internal
        )
        if self.fatigue is None or caps is None:
            return None
        entry = Interruption(job.dedupe_key, at, job.template.category, job.source, job.job_id)
        booking = self.fatigue.book(job.user_id, entry, caps, zone(), at)
        return booking.detail if booking.status == "refused" else None

    def _publish_uninstall(self, job: PushJob, device_id: str, token: str, now: datetime) -> None:
        """An uninstall as an opt-out event, blamed on the last message the user received
        (not this one: it never arrived). One event id per install and token: duplicates
        from racing jobs are applied once. Best effort, as the device is already gone."""
        if self.events is None:
            return
        digest = hashlib.blake2b(f"{job.user_id}|{device_id}|{token}".encode(), digest_size=12)
        event = IncomingEvent(
            event_id=f"uninstall.{digest.hexdigest()}",
            name=OPT_OUT_EVENT,
            timestamp=now.astimezone(UTC),
            properties={"kind": "uninstall", "message_id": job.job_id, "device_id": device_id},
        )
        batch = QueuedBatch(user_id=job.user_id, received_at=now, events=[event])
        try:
            failed = self.events.publish([batch])
        except Exception:
            failed = [0]
        if failed:
            logger.warning("uninstall opt-out not queued", job_id=job.job_id)
