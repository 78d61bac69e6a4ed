"""event_processor: fold queued events into profiles, exactly once per event, in any order.

Per SQS batch:
 1. parse every message (a malformed one fails alone and, after maxReceiveCount, is in the DLQ);
 2. one Query per user finds events already recorded in the history (duplicates: skipped),
    over the hours they happened in; one BatchGetItem reads the batch's profiles;
 3. per user: fold in the new events, re-evaluate the lifecycle stage, and write the profile
    back conditioned on the version read (optimistic concurrency, re-read and retried);
 4. write every user's events to the history (which is also the dedupe record): one item per
    user and hour, usually one per user and batch (adapters/history_items.py), with any
    transition, in shared BatchWriteItem calls; one read then finds concurrent erasures.

A crash between 3 and 4 is covered by the profile's `recent` fingerprints: the redelivered
events are recognised as applied and only their history records are written (with the stage
change they made, found again by its time).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pydantic import ValidationError

from nudge.clock import Clock, to_epoch
from nudge.domain.campaigns import OUTBOX_KEEP
from nudge.domain.config import EngagementConfig
from nudge.domain.engagement.broadcast_counters import OPENED_MARKER, outcome_delta
from nudge.domain.engagement.decision_record import DecisionRecord, records_made_at
from nudge.domain.profiles.aggregates import (
    DAY,
    OPT_OUT_EVENT,
    RECENT_MAX,
    apply_events,
    epoch_of,
    event_hash,
)
from nudge.domain.profiles.ingest import describe_validation_error
from nudge.domain.profiles.lifecycle import evaluate
from nudge.models.events import IncomingEvent, QueuedBatch
from nudge.models.profile import Profile, Transition
from nudge.models.push import DELIVERY_LOG_DAYS, Delivery
from nudge.models.stats import StageChange
from nudge.services.campaigns.runner import CampaignRunner, earliest
from nudge.services.geofencing.tracker import GeoTracker
from nudge.services.nps.surveys import SurveyService
from nudge.services.ports import DeliveryLog, HistoryEntry, HistoryStore, ProfileStore
from nudge.services.retry import MAX_WRITE_ATTEMPTS, pause_before_retry

if TYPE_CHECKING:
    from nudge.services.messaging.preferences import BatchPreferences

PUSH_ENGAGEMENT = {"push_opened": "opened_at", "push_dismissed": "dismissed_at"}


class PoisonMessage(ValueError):
    """The message can never be processed; it is left to reach the DLQ."""


class ConcurrentUpdate(RuntimeError):
    pass


@dataclass
class BatchOutcome:
    failures: dict[str, Exception] = field(default_factory=dict)  # message id -> why
    applied_events: int = 0
    duplicate_events: int = 0
    transitions: list[tuple[str, Transition]] = field(default_factory=list)
    pushes: int = 0  # campaign sends queued
    # (kind, category) -> how many opens / opt-outs were counted: CloudWatch metrics (EMF)
    engagement: Counter[tuple[str, str]] = field(default_factory=Counter)
    ignored: list[str] = field(default_factory=list)  # malformed opt-out events, and why


@dataclass
class EventProcessingService:
    profiles: ProfileStore
    history: HistoryStore
    config: EngagementConfig
    clock: Clock
    deliveries: DeliveryLog | None = None  # links push_opened / push_dismissed to sends
    campaigns: CampaignRunner | None = None
    geo: GeoTracker | None = None
    surveys: SurveyService | None = None  # NPS prompts for events that finish a task
    preferences: BatchPreferences | None = None  # the readers' (campaigns, geo) shared reads

    def process(self, messages: list[tuple[str, str]]) -> BatchOutcome:
        outcome = BatchOutcome()
        by_user: dict[str, list[tuple[str, QueuedBatch]]] = defaultdict(list)
        for message_id, body in messages:
            try:
                batch = QueuedBatch.model_validate_json(body)
            except ValidationError as error:
                outcome.failures[message_id] = PoisonMessage(describe_validation_error(error))
                continue
            by_user[batch.user_id].append((message_id, batch))
        if not by_user:
            return outcome

        events = [(u, e) for u, items in by_user.items() for _, b in items for e in b.events]
        if self.preferences is not None:
            self.preferences.expect(by_user)
        try:
            recorded = self.history.existing_event_ids(events)
            stored = self.profiles.get_latest(list(by_user))
        except Exception as error:  # the whole batch is retried; nothing was written
            for items in by_user.values():
                outcome.failures.update((message_id, error) for message_id, _ in items)
            return outcome

        applied: list[_Applied] = []
        for user_id, items in by_user.items():
            try:
                done = self._process_user(user_id, items, recorded, stored.get(user_id), outcome)
            except Exception as error:
                outcome.failures.update((message_id, error) for message_id, _ in items)
                continue
            if done is not None:
                applied.append(done)
        try:  # the batch's history in one go (a failure retries these users' messages)
            self._record(applied, outcome)
        except Exception as error:
            for done in applied:
                outcome.failures.update((message_id, error) for message_id in done.message_ids)
        return outcome

    def _process_user(
        self,
        user_id: str,
        items: list[tuple[str, QueuedBatch]],
        recorded: set[tuple[str, str]],
        stored: Profile | None,
        outcome: BatchOutcome,
    ) -> _Applied | None:
        """Apply the user's new events; what is left to record in the history (if anything)."""
        fresh: dict[str, tuple[IncomingEvent, int]] = {}
        for _, batch in items:
            for event in batch.events:
                if (user_id, event.event_id) in recorded or event.event_id in fresh:
                    outcome.duplicate_events += 1
                    continue
                fresh[event.event_id] = (event, to_epoch(batch.received_at))
        if not fresh:
            return None

        events = list(fresh.items())
        message_ids = [message_id for message_id, _ in items]
        # Chunks no larger than the profile's fingerprint memory: a crash between a chunk's
        # profile write and its history write is always recognised on redelivery.
        # events already in the history need no fingerprint any more
        confirmed = [event_id for user, event_id in recorded if user == user_id]
        chunks = [dict(events[i : i + RECENT_MAX]) for i in range(0, len(events), RECENT_MAX)]
        done = None
        for chunk in chunks:
            if done is not None:  # the next chunk may forget this one's fingerprints
                self._record([done], outcome)
                confirmed = list(done.fresh)
            stored, entry = self._apply_chunk(user_id, chunk, confirmed, stored, outcome)
            done = _Applied(message_ids, chunk, entry) if entry else None
        return done

    def _apply_chunk(
        self,
        user_id: str,
        fresh: dict[str, tuple[IncomingEvent, int]],
        confirmed: list[str],
        stored: Profile | None,
        outcome: BatchOutcome,
    ) -> tuple[Profile | None, HistoryEntry | None]:
        """Fold `fresh` into the profile (`stored`, as read) and save it: the profile as it is
        now stored, and the history entry still to be written."""
        now = to_epoch(self.clock.now())
        thresholds = self.config.lifecycle
        transition = None
        decision_log: list[DecisionRecord] = []
        delivered: list[Delivery] | None = None  # read once, only to blame an opt-out
        for attempt in range(MAX_WRITE_ATTEMPTS):
            pause_before_retry(attempt)
            previous = stored if attempt == 0 else self.profiles.get(user_id)
            profile = previous or Profile(user_id=user_id)
            events = [
                event
                for event, received_at in fresh.values()
                if profile.erased_at is None or received_at > profile.erased_at
            ]
            new = [e for e in events if event_hash(e.event_id) not in profile.recent]
            updated = apply_events(profile, events, self.config, now, confirmed)
            updated, transition = evaluate(updated, now, thresholds, cause="event")
            decided, fence_moves = None, []
            fence_campaigns = self.campaigns.fence_campaigns() if self.campaigns else []
            if self.geo is not None and new:
                fence_moves = self.geo.track(updated, new, now, fence_campaigns)
                updated.due_at = earliest(
                    updated.due_at, self.geo.next_due(updated, fence_campaigns)
                )
            if self.campaigns is not None and new:
                moves = [transition] if transition else []
                if delivered is None and any(e.name == OPT_OUT_EVENT for e in new):
                    delivered = self._delivered(user_id)
                decided = self.campaigns.decide(updated, now, new, moves, fence_moves, delivered)
                updated.due_at = earliest(updated.due_at, self.campaigns.next_due(updated, now))
            if updated.model_dump(exclude={"recent"}) == profile.model_dump(exclude={"recent"}):
                # everything here was already applied (a redelivery after a crash): the sends
                # it decided may not have been queued yet (push_sender dedupes them)
                if self.campaigns is not None:
                    self.campaigns.flush(profile, since=now - OUTBOX_KEEP)
                if self.surveys is not None:  # prompts are deterministic, created once
                    self.surveys.on_events(profile, events, now)
                transition = _transition_made_by(profile, events)  # its record may be lost too
                # so may its decision records: rebuilt from the profile's memory of them
                applied = {profile.recent.get(event_hash(event.event_id)) for event in events}
                moments = {at for at in applied if at is not None}
                decision_log = records_made_at(profile.messaging.decided, moments)
                stored = previous
                break
            updated.version = profile.version + 1
            change = StageChange.of(transition) if transition else None
            counters = decided.counters if decided else None
            if self.profiles.save(updated, previous, self.config.due_shards, change, counters):
                outcome.applied_events += len(events)
                if transition is not None:  # counted when the stage changes, recorded below
                    outcome.transitions.append((user_id, transition))
                if decided is not None:
                    decision_log = decided.decision_log
                    outcome.engagement.update(
                        (record.kind, record.category or "unknown") for record in decided.records
                    )
                    outcome.ignored += [f"{i.event_id}: {i.why}" for i in decided.ignored]
                if self.campaigns is not None:
                    outcome.pushes += self.campaigns.flush(updated, decided)
                if self.surveys is not None:
                    self.surveys.on_events(updated, events, now)
                stored = updated
                break
        else:
            raise ConcurrentUpdate(f"profile kept changing under us ({MAX_WRITE_ATTEMPTS} tries)")

        kept = [
            e for e, rcv in fresh.values() if profile.erased_at is None or rcv > profile.erased_at
        ]
        if not kept and transition is None and not decision_log:
            return stored, None
        latest = max(rcv for _, rcv in fresh.values())
        expires_at = now + self.config.history_ttl_days * DAY
        decisions_expire_at = now + self.config.decision_record_days * DAY
        return stored, HistoryEntry(
            user_id, kept, latest, expires_at, transition, decision_log, decisions_expire_at
        )

    def _record(self, applied: list[_Applied], outcome: BatchOutcome) -> None:
        """Write the history of applied passes (several users at once), then take back what a
        concurrent erasure should have removed, then link push opens to their sends."""
        if not applied:
            return
        self.history.append([done.entry for done in applied])
        self._honour_concurrent_erasures(applied)
        if self.deliveries is not None:
            for done in applied:
                self._attribute_push_engagement(done.entry.user_id, done.entry.events)

    def _delivered(self, user_id: str) -> list[Delivery] | None:
        """What the user's devices received (None without a delivery log: campaign sends)."""
        return None if self.deliveries is None else self.deliveries.for_user(user_id)

    def _attribute_push_engagement(self, user_id: str, events: list[IncomingEvent]) -> None:
        """The app reports opens and dismissals as events naming the message (job) id."""
        assert self.deliveries is not None
        for event in events:
            field = PUSH_ENGAGEMENT.get(event.name)
            message_id = event.properties.get("message_id")
            if field and isinstance(message_id, str) and message_id:
                marked = self.deliveries.mark(user_id, message_id[:128], field, epoch_of(event))
                delivered = [d for d in marked if d.outcome == "sent"]
                if field == "opened_at" and delivered:  # never a message that did not arrive
                    self._count_broadcast_open(user_id, delivered[0])

    def _count_broadcast_open(self, user_id: str, delivery: Delivery) -> None:
        """A broadcast's message was opened: counted once per user (a marker item), whichever
        device opened it and however often the event comes again."""
        assert self.deliveries is not None
        opened = outcome_delta(delivery.source, "opened")
        if opened is not None:
            marker = f"{delivery.dedupe_key}{OPENED_MARKER}"
            expires_at = delivery.at + DELIVERY_LOG_DAYS * DAY
            self.deliveries.count_once(user_id, marker, opened, expires_at)

    def _honour_concurrent_erasures(self, applied: list[_Applied]) -> None:
        """Users who erased their data while we were writing: take our writes back too."""
        current = self.profiles.get_latest([done.entry.user_id for done in applied])
        for done in applied:
            user_id = done.entry.user_id
            profile = current.get(user_id)
            if profile is None or profile.erased_at is None:
                continue
            erased_at = profile.erased_at
            before = [e.event_id for e, rcv in done.fresh.values() if rcv <= erased_at]
            if not before:
                continue
            if profile.first_seen is None:  # nothing came after the erasure: all of it goes
                self.history.delete_user(user_id)
            else:
                self.history.delete_events(user_id, before)


def _transition_made_by(profile: Profile, events: list[IncomingEvent]) -> Transition | None:
    """The stage change that applying `events` made, found again on their redelivery: its
    time is when they were applied (their fingerprints). Its history item has a fixed key, so
    recording it once more is harmless."""
    applied_at = {profile.recent.get(event_hash(event.event_id)) for event in events}
    return next(
        (t for t in reversed(profile.transitions) if t.cause == "event" and t.at in applied_at),
        None,
    )


@dataclass(frozen=True)
class _Applied:
    """One user's events, applied to the profile, with the history entry still to write."""

    message_ids: list[str]
    fresh: dict[str, tuple[IncomingEvent, int]]  # event id -> (event, received at)
    entry: HistoryEntry
