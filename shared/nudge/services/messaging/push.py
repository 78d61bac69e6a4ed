"""push_sender: consent, quiet hours, once-per-key delivery, FCM results, token clean-up.

At most once per dedupe key and device, whatever fails after FCM may have accepted a message
(the outcome write denied or throttled, a timeout, a crash): the claim is permanent once the
outcome is recorded, and a claim left `sending` past its lease is recorded as `unknown` on
the job's redelivery, never sent again (see `nudge.adapters.delivery_log`).

A broadcast's job is suppressed (`cancelled`) once its broadcast is cancelled: the status is
read once per broadcast per batch of jobs (`new_batch`), not per job.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

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
DELIVERED_MARKER = "#=delivered"  # sk suffix: the job was delivered to some device (counted)
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

    def new_batch(self) -> None:
        """Forget the broadcast statuses read for the previous batch."""
        self._cancelled.clear()

    def _cancelled_broadcast(self, job: PushJob) -> bool:
        broadcast_id = broadcast_of(job.source)
        if broadcast_id is None or self.broadcasts is None:
            return False
        if broadcast_id not in self._cancelled:
            self._cancelled[broadcast_id] = self.broadcasts.status(broadcast_id) == "cancelled"
        return self._cancelled[broadcast_id]

    def process(self, body: str, receive_count: int = 1) -> JobResult:
        try:
            job = PushJob.model_validate_json(body)
        except ValidationError as error:
            raise PoisonJob(describe_validation_error(error)) from error
        now = self.clock.now()
        at = to_epoch(now)
        keep_until = at + DELIVERY_LOG_DAYS * DAY
        devices = []
        if self._cancelled_broadcast(job):  # before anything else: no device or consent reads
            verdict = Gate("suppress", CANCELLED)
        else:
            devices = self.devices.devices(job.user_id, at)
            preferences = effective(self.devices.preferences(job.user_id), self.config.consent)
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
        self.fcm.send([])
        claimed = [
            (device, message)
            for device, message in messages
            if self.log.claim(job.user_id, f"{job.dedupe_key}#{device.device_id}", job.job_id, at)
        ]
        if not claimed:
            return finished(outcome)  # every device already has it: a redelivery
        # From here a claim is never taken again (FCM may have accepted its message): a write
        # that fails below leaves the outcome to the job's redelivery (`leftovers`), never a
        # second send; and each device's outcome is written even if another device's failed.
        results = self.fcm.send([message for _, message in claimed])

        def record_outcome(device_id: str, message: dict[str, Any], result: FcmResult) -> None:
            key = f"{job.dedupe_key}#{device_id}"
            counters: dict[str, dict[str, int]] | None = None
            first: tuple[str, dict[str, dict[str, int]]] | None = None
            if result.ok:
                record = delivery("sent", device_id, message_id=result.message_id)
                delivered = _counted(job, "delivered", at)
                if delivered is not None:
                    counters, first = {}, (f"{job.dedupe_key}{DELIVERED_MARKER}", delivered)
            elif result.error_code in RETRYABLE:
                self.log.release(job.user_id, key)
                backoff = min(MAX_BACKOFF_S, 2 ** min(receive_count, 9))
                wait = max(backoff, int(result.retry_after_s or 0))
                outcome.done = False
                outcome.delay_s = max(outcome.delay_s, wait)
                outcome.deliveries.append(delivery("deferred", device_id, result.error_code))
                return
            else:
                if result.error_code in TOKEN_GONE:  # uninstalled, or a token FCM refuses
                    self.devices.delete_device(
                        job.user_id, device_id, only_if_token=message["token"]
                    )
                if result.error_code == "UNREGISTERED":
                    self._publish_uninstall(job, device_id, message["token"], now)
                record = delivery("failed", device_id, result.error_code)
                counters = _counted(job, "failed", at, result.error_code)
            written = self.log.record(record, key, keep_until, counters, first)
            outcome.deliveries.append(record)
            if written:
                kind = "sent" if result.ok else "failed"
                outcome.engagement[(kind, job.template.category)] += 1

        unrecorded: list[str] = []
        for (device, message), result in zip(claimed, results, strict=True):
            try:
                record_outcome(device.device_id, message, result)
            except Exception:
                logger.exception("outcome not recorded", job_id=job.job_id, device=device.device_id)
                unrecorded.append(device.device_id)
        if not outcome.done and job.created_at + timedelta(seconds=job.ttl_seconds) <= now:
            outcome.done = True  # too late to retry: what failed stays failed
        if unrecorded:  # settled by the redelivery (nothing is sent again), while in its TTL
            outcome.done = False
            backoff = min(MAX_BACKOFF_S, 2 ** min(receive_count, 9))
            outcome.delay_s = max(outcome.delay_s, backoff)
        return finished(outcome)

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
