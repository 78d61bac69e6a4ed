"""Campaigns inside the event pipeline: decide while the profile is being written, send after.

The processor and the scheduler call `decide` on the profile they are about to save; the
decisions, the campaign state and the campaign counters go into that one conditional write.
Only once it has succeeded does `flush` put the decided sends on the pushes queue. A crash in
between is repaired when the same events come back: their profile is unchanged, and `flush`
re-sends the outbox, which push_sender dedupes by key. So each trigger occurrence is decided
exactly once and sent at most once, whatever is redelivered.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any

from nudge.domain import campaigns as engine
from nudge.domain.config import EngagementConfig
from nudge.domain.engagement import breakdown
from nudge.domain.engagement.attribution import HOLDOUT, EngagementRecord
from nudge.domain.engagement.broadcast_counters import outcome_delta
from nudge.domain.engagement.counters import counter_name, storage_field
from nudge.domain.engagement.decision_record import DecisionRecord, forget_stale, note_decisions
from nudge.domain.engagement.records import Ignored, engagement_records
from nudge.domain.engagement.regional_model import view_of
from nudge.domain.messaging.consent import EffectivePreferences, effective
from nudge.models.campaign import Campaign, CampaignSet, seconds
from nudge.models.events import IncomingEvent
from nudge.models.fatigue import Interruption
from nudge.models.profile import OutboxJob, Profile, Transition
from nudge.models.push import Delivery, PushJob
from nudge.services.messaging.timezones import campaign_zone
from nudge.services.ports import (
    CampaignCatalog,
    DeviceLister,
    FatigueLedger,
    PreferenceReader,
    PushQueue,
)
from nudge.templating import TemplateError

log = logging.getLogger("nudge.campaigns")


def earliest(*moments: int | None) -> int | None:
    known = [m for m in moments if m is not None]
    return min(known) if known else None


@dataclass
class CampaignPass:
    """What one profile write carries: the decisions and their counter deltas."""

    decisions: list[engine.Decision] = field(default_factory=list)
    counters: dict[str, Counter[str]] = field(default_factory=dict)
    records: list[EngagementRecord] = field(default_factory=list)  # opens and opt-outs
    ignored: list[Ignored] = field(default_factory=list)  # malformed opt-out events
    # the decisions that say something new, for the user's decision record (history table)
    decision_log: list[DecisionRecord] = field(default_factory=list)

    def count(self, campaign_id: str, at: int, *names: str) -> None:
        counter = self.counters.get(key := counter_name(campaign_id, at))
        if counter is None:
            counter = self.counters[key] = Counter()
        for name in names:
            counter[name] += 1

    def count_cell(self, campaign_id: str, at: int, cell: str, metric: str) -> None:
        """A response in the send's cell (none kept: a send from before cells, not counted)."""
        if cell:
            name = breakdown.counter_name(campaign_id, at, cell)
            self.counters.setdefault(name, Counter()).update(breakdown.increments(cell, metric))

    def add(self, record: EngagementRecord) -> None:
        name, counter_field = storage_field(record)
        self.counters.setdefault(name, Counter())[counter_field] += 1
        if record.kind in ("opened", "opt_out"):
            self.count_cell(record.campaign, record.at, record.cell, record.kind)
        if record.kind == "opt_out":  # blamed on a broadcast's message: in its outcomes too
            blamed = outcome_delta(record.source, record.kind, record.reason) or {}
            for broadcast, deltas in blamed.items():
                self.counters.setdefault(broadcast, Counter()).update(deltas)
        self.records.append(record)


@dataclass
class CampaignRunner:
    catalog: CampaignCatalog
    devices: PreferenceReader
    pushes: PushQueue
    config: EngagementConfig
    fatigue: FatigueLedger | None = None  # the other paths' interruptions count in the caps
    zone_devices: DeviceLister | None = None  # device zones and locales, read only when needed
    _playbook: tuple[CampaignSet, engine.Playbook] | None = field(default=None, init=False)

    def published(self) -> CampaignSet:
        return self.catalog.current()

    def decide(
        self,
        profile: Profile,
        now: int,
        events: Iterable[IncomingEvent] = (),
        transitions: Iterable[Transition] = (),
        fence_transitions: Iterable[Any] = (),
        delivered: Sequence[Delivery] | None = None,
    ) -> CampaignPass:
        """Fold campaign work into `profile` (mutated): triggers, decisions, due time.
        `delivered`: the user's delivery log, read when an opt-out is to be blamed."""
        published = self.published()
        playbook = self.playbook(published)
        active = playbook.campaigns
        result = CampaignPass()
        events = list(events)
        for exposure in engine.conversions(profile, events):
            result.count(exposure.campaign, now, f"converted.{exposure.variant}")
            held = exposure.variant == HOLDOUT
            metric = "holdout_converted" if held else "converted"
            result.count_cell(exposure.campaign, now, exposure.cell, metric)
        if events:
            # an opt-out may arrive as late as the oldest event ingest takes, plus SQS retention
            late = (self.config.max_event_age_days + 14) * 86_400
            records, result.ignored = engagement_records(
                profile, events, now, self.config.analytics, delivered, late
            )
            for record in records:
                result.add(record)
        profile.messaging.decided = forget_stale(profile.messaging.decided, now)
        if not active and not profile.messaging.pending and not profile.messaging.schedule_next:
            engine.prune(profile, now)
            return result
        candidates, delayed = engine.event_candidates(playbook, events)
        if transitions:
            candidates += engine.transition_candidates(playbook, transitions)
        candidates += engine.fence_candidates(playbook, fence_transitions)
        due, cancelled = engine.due_candidates(playbook, profile, now)
        candidates += due
        for pending in delayed:
            profile.messaging.pending.append(pending)
        unless = []
        for campaign_id in cancelled:
            result.count(campaign_id, now, "suppressed.unless")
            rule = engine.Rule("unless", False, "an unless event came after the trigger")
            unless.append(engine.Decision(campaign_id, "", "suppress", "unless", rules=[rule]))
        # a paused or removed campaign's delayed sends are dropped, never sent late
        profile.messaging.pending = [p for p in profile.messaging.pending if p.campaign in active]
        consent, quiet_hours, prefs = self._preferences(profile.user_id)
        # push_sender's order over the same sources, read only if a rule needs the zone
        zone = campaign_zone(
            profile, prefs, self.zone_devices, now, self.config.consent.default_timezone
        )
        ctx = engine.Context(
            now=now,
            zone=zone,
            named=published.segments,
            caps=self.config.caps,
            consent=consent,
            interest_half_life_days=self.config.interest_half_life_days,
            quiet_hours=quiet_hours,
            interruptions=self._interruptions(profile.user_id),
            cell=breakdown.cell_reader(
                profile, published.segments, now, self.config.interest_half_life_days
            ),
            response=view_of(published.response_model),
        )
        for decision in engine.decide_all(candidates, profile, ctx):
            result.decisions.append(decision)
            if decision.reason == "duplicate":
                continue
            if decision.action == "wait":
                result.count(decision.campaign_id, now, "waiting")
                continue
            if decision.action == "send":
                outcome = f"sent.{decision.variant}"
                result.count_cell(decision.campaign_id, now, ctx.cell(), "sent")
            elif decision.action == "holdout":
                outcome = "holdout"
                result.count_cell(decision.campaign_id, now, ctx.cell(), "holdout")
            else:
                outcome = f"suppressed.{decision.reason}"
            result.count(decision.campaign_id, now, "targeted", outcome)
        decided = profile.messaging.decided
        result.decision_log = note_decisions(decided, [*unless, *result.decisions], now)
        engine.plan_schedules(playbook, profile, now, zone)
        engine.prune(profile, now)
        return result

    def playbook(self, published: CampaignSet) -> engine.Playbook:
        """Built once per published set (the catalog hands out the same object until then)."""
        cached = self._playbook
        if cached is None or cached[0] is not published:
            cached = (published, engine.Playbook.of(published.campaigns.values()))
            self._playbook = cached
        return cached[1]

    def fence_campaigns(self) -> list[Campaign]:
        return self.playbook(self.published()).on_fence

    def next_due(self, profile: Profile, now: int) -> int | None:
        return engine.next_due(self.playbook(self.published()), profile, now)

    def flush(self, profile: Profile, decided: CampaignPass | None = None, since: int = 0) -> int:
        """Queue the sends of one pass (`decided`), or every outbox send since `since`.

        Idempotent: push_sender delivers a dedupe key once, however often it is queued.
        """
        published = self.published()
        wanted = None
        if decided is not None:
            wanted = {
                (d.campaign_id, d.occurrence) for d in decided.decisions if d.action == "send"
            }
        bodies: list[str] = []
        for job in profile.messaging.outbox:
            if job.at < since or (
                wanted is not None and (job.campaign, job.occurrence) not in wanted
            ):
                continue
            campaign = published.campaigns.get(job.campaign)
            if campaign is None:  # deleted since: nothing to render; the decision stands
                continue
            try:
                push = self.push_job(campaign, profile, job)
            except TemplateError:  # published before the template allow-list: never sent
                log.warning("campaign %s: text refused, not sent", campaign.id, exc_info=True)
                continue
            bodies.append(push.model_dump_json())
        if bodies:
            self.pushes.enqueue_many(bodies)  # ten a request, not one each
        return len(bodies)

    def push_job(self, campaign: Campaign, profile: Profile, job: OutboxJob) -> PushJob:
        job_id, key = engine.campaign_job_id(profile.user_id, campaign.id, job.occurrence)
        user = {name: attribute.value for name, attribute in profile.attributes.items()}
        return PushJob(
            job_id=job_id,
            user_id=profile.user_id,
            template=engine.campaign_template(campaign, job.variant),
            data={
                "user": user,
                **engine.template_data(job.data),
                "campaign": {"id": campaign.id, "name": campaign.name},
            },
            dedupe_key=key[:200],
            created_at=datetime.fromtimestamp(job.at, tz=UTC),
            ttl_seconds=max(60, seconds(campaign.delivery.ttl)),
            source=f"campaign:{campaign.id}:{job.variant}"[:64],
        )

    def _interruptions(self, user_id: str) -> Callable[[], Sequence[Interruption]]:
        """A reader of the user's fatigue ledger: one read, and only if a candidate reaches
        the caps (most never do: audience, consent or cooldown stop them first)."""
        ledger = self.fatigue
        cache: list[Sequence[Interruption]] = []

        def read() -> Sequence[Interruption]:
            if ledger is None:
                return ()
            if not cache:
                cache.append(ledger.interruptions(user_id))
            return cache[0]

        return read

    def _preferences(
        self, user_id: str
    ) -> tuple[engine.ConsentReader, engine.QuietReader, Callable[[], EffectivePreferences]]:
        """Readers that fetch the user's preferences once, and only if a decision needs them."""
        cache: list[EffectivePreferences] = []

        def prefs() -> EffectivePreferences:
            if not cache:
                cache.append(effective(self.devices.preferences(user_id), self.config.consent))
            return cache[0]

        def consent() -> Mapping[str, bool]:
            return prefs().categories

        def quiet_hours() -> tuple[time, time] | None:
            quiet = prefs().quiet_hours
            return (quiet.start, quiet.end) if quiet else None

        return consent, quiet_hours, prefs
