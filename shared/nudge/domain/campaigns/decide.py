"""Campaign decisioning: whether each candidate may send, one rule after another, each step
recorded with its reason:
  active -> audience -> consent -> per-campaign cap -> cooldown -> global caps
  -> send window -> holdout -> (quiet hours: deferred by push_sender, never dropped unless
  stale).
The holdout comes last so it holds exactly the users who would have been sent, and its
"would have sent" is recorded like a send (max_per_user, cooldown, caps, exposure): both arms
then meet every later trigger alike, and lift compares like with like.
Candidates that compete in one pass are decided in priority order, so a higher-priority
campaign takes the last slot of a cap. Every decision is written into the profile in the same
conditional write as the events that caused it: a redelivered event finds it already made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from nudge.clock import DAY
from nudge.domain.campaigns.rules import WEEK, _flat, campaign_job_id, in_holdout, pick_variant
from nudge.domain.campaigns.triggers import (
    MAX_OCCURRENCES,
    MAX_PENDING,
    OCCURRENCE_MEMORY,
    SCHEDULE_HEARTBEAT,
    Candidate,
    Playbook,
    _last_activity,
    next_schedule_slot,
)
from nudge.domain.config import DEFAULT_INTEREST_HALF_LIFE_DAYS, CategoryCaps
from nudge.domain.messaging.delivery_time import UNKNOWN_TIMEZONE, withheld_without_zone
from nudge.domain.messaging.fatigue import blocking, campaign_moments, counted, tally, windows
from nudge.domain.profiles.segments import explain
from nudge.models.campaign import Campaign, seconds
from nudge.models.events import IncomingEvent
from nudge.models.fatigue import Interruption
from nudge.models.profile import (
    CampaignMark,
    Exposure,
    OutboxJob,
    PendingTrigger,
    Profile,
    SendRecord,
)
from nudge.models.response_model import RegionalView
from nudge.models.segment import Segment

OUTBOX_KEEP = 30 * 60  # longer than SQS redelivery of the events that decided them


class Rule(NamedTuple):  # a tuple: several are made for every decision
    name: str
    passed: bool
    detail: str = ""


@dataclass(slots=True)
class Decision:
    campaign_id: str
    occurrence: str
    action: str  # send | holdout | suppress | wait
    reason: str | None = None
    variant: str | None = None
    rules: list[Rule] = field(default_factory=list)
    wait_until: int | None = None

    @property
    def outcome(self) -> str:
        return self.action if self.reason is None else f"{self.action}:{self.reason}"


ConsentReader = Callable[[], Mapping[str, bool]]
QuietReader = Callable[[], "tuple[time, time] | None"]
InterruptionReader = Callable[[], Sequence[Interruption]]
ZoneReader = Callable[[], "str | None"]  # the user's zone, resolved on first need (None: unknown)


@dataclass(frozen=True)
class Context:
    """What decisions need beyond the profile; consent is read only if a candidate gets there."""

    now: int
    zone: str | ZoneReader | None  # a reader: resolved only if a rule needs the zone
    named: Mapping[str, Segment]
    caps: Mapping[str, CategoryCaps]
    consent: ConsentReader
    quiet_hours: QuietReader = lambda: None
    # the user's fatigue ledger (broadcasts, API messages, survey prompts), read only when a
    # candidate reaches the caps
    interruptions: InterruptionReader = lambda: ()
    # EngagementConfig's (runner and preview pass it): audiences read interests as ingest wrote
    interest_half_life_days: float = DEFAULT_INTEREST_HALF_LIFE_DAYS
    # the user's response cell (domain/engagement/breakdown.py), worked out at a send only
    cell: Callable[[], str] = lambda: ""
    # the published regional response model, for `predicted_response` / `top_regions`
    response: RegionalView | None = None

    @property
    def local_zone(self) -> str | None:
        return zone_of(self.zone)


def zone_of(zone: str | ZoneReader | None) -> str | None:
    return zone() if callable(zone) else zone


def _needs_zone(campaign: Campaign) -> bool:
    """A send window or a schedule on each user's clock: rules that need the user's zone."""
    schedule = campaign.trigger.schedule
    return campaign.delivery.send_window is not None or (
        schedule is not None and schedule.local_time
    )


def _window_wait(campaign: Campaign, now: int, zone: str) -> int | None:
    """When outside the send window: the next moment it opens (else None)."""
    window = campaign.delivery.send_window
    if window is None:
        return None
    local = datetime.fromtimestamp(now, tz=ZoneInfo(zone))
    start, end = time.fromisoformat(window.start), time.fromisoformat(window.end)
    clock = local.time().replace(tzinfo=None)
    inside = start <= clock < end if start < end else (clock >= start or clock < end)
    if inside:
        return None
    opening = local.replace(hour=start.hour, minute=start.minute, second=0, microsecond=0)
    if opening <= local:
        opening += timedelta(days=1)
    return int(opening.astimezone(UTC).timestamp())


def decide(candidate: Candidate, profile: Profile, ctx: Context) -> Decision:
    campaign, now = candidate.campaign, ctx.now
    decision = Decision(campaign.id, candidate.occurrence, "send")
    rules = decision.rules

    def stop(action: str, rule: str, detail: str) -> Decision:
        rules.append(Rule(rule, False, detail))
        decision.action, decision.reason = action, rule
        return decision

    if campaign.status != "active":
        return stop("suppress", "inactive", f"campaign is {campaign.status}")
    rules.append(Rule("active", True))
    if now - candidate.at > seconds(campaign.delivery.ttl):
        return stop("suppress", "expired", "the trigger is older than the message's ttl")
    if candidate.key in profile.messaging.occurrences:
        return stop("suppress", "duplicate", "this trigger occurrence was already decided")
    why = explain(
        campaign.audience,
        profile,
        now,
        ctx.named,
        half_life_days=ctx.interest_half_life_days,
        response=ctx.response,
    )
    if why:
        return stop("suppress", "audience", why)
    rules.append(Rule("audience", True))
    if not ctx.consent().get(campaign.category, False):
        return stop("suppress", "consent", f"no consent for {campaign.category}")
    rules.append(Rule("consent", True, campaign.category))
    mark = profile.messaging.campaigns.get(campaign.id)
    sends, last_at = (mark.sends, mark.last_at) if mark is not None else (0, 0)
    sent = f"{sends} of {campaign.delivery.max_per_user}"
    if sends >= campaign.delivery.max_per_user:
        return stop("suppress", "max_per_user", sent)
    rules.append(Rule("max_per_user", True, sent))
    cooldown = seconds(campaign.delivery.cooldown)
    if sends and now - last_at < cooldown:
        ago, left = (now - last_at) // 60, (last_at + cooldown - now) // 60
        return stop("suppress", "cooldown", f"last sent {ago} min ago; {left} min left")
    rules.append(Rule("cooldown", True))
    caps = counted(campaign.category, "campaign", ctx.caps, exempt_internal=False)
    if caps is not None:  # one budget: this user's sends and holdouts, and the other paths'
        within = windows(now, ctx.local_zone)
        moments = campaign_moments(profile.messaging.sends, ctx.interruptions(), campaign.category)
        day, week = tally(moments, within)
        blocked = blocking(day, week, campaign.category, caps, within)
        if blocked is not None:
            return stop("suppress", "global_cap", blocked)
        rules.append(Rule("global_cap", True, f"{day}/day, {week}/week"))
    needs_zone = _needs_zone(campaign)
    zone = ctx.local_zone if needs_zone else None
    if needs_zone and zone is None:
        if withheld_without_zone(campaign.category):  # never a guessed local hour
            why = "no time zone known for the user (preference, device, locale, location)"
            return stop("suppress", UNKNOWN_TIMEZONE, why)
        rules.append(Rule(UNKNOWN_TIMEZONE, True, "no time zone known; transactional goes"))
    opens = _window_wait(campaign, now, zone) if zone is not None else None
    if opens is not None:
        assert zone is not None
        if opens - candidate.at > seconds(campaign.delivery.ttl):
            return stop("suppress", "send_window", "the window opens after the message is stale")
        rules.append(Rule("send_window", False, f"waits until {_local(opens, zone)}"))
        decision.action, decision.reason, decision.wait_until = "wait", "send_window", opens
        return decision
    rules.append(Rule("send_window", True))
    if in_holdout(campaign, profile.user_id, profile.attributes):
        decision.variant = "holdout"
        return stop("holdout", "holdout", f"in the {campaign.holdout_pct:g}% control group")
    rules.append(Rule("holdout", True))
    quiet = ctx.quiet_hours() if campaign.delivery.respect_quiet_hours else None
    if quiet is not None:
        zone = ctx.local_zone
        if zone is None:
            note = "no time zone known: push_sender withholds it (unknown_timezone)"
            if not withheld_without_zone(campaign.category):
                note = "no time zone known: sent regardless (transactional)"
            rules.append(Rule("quiet_hours", True, note))
        else:
            local = datetime.fromtimestamp(now, tz=ZoneInfo(zone)).time()
            start, end = quiet
            quiet_now = start <= local < end if start < end else (local >= start or local < end)
            note = "deferred by push_sender to the end of quiet hours" if quiet_now else ""
            rules.append(Rule("quiet_hours", True, note))
    decision.variant = pick_variant(campaign, profile.user_id, profile.attributes)
    return decision


def _local(epoch: int, zone: str) -> str:
    return datetime.fromtimestamp(epoch, tz=ZoneInfo(zone)).strftime("%a %H:%M %Z")


def decide_all(candidates: list[Candidate], profile: Profile, ctx: Context) -> list[Decision]:
    """Decide in priority order; each send (or a holdout's would-be send) counts against the
    caps of the next candidate."""
    # the occurrence breaks ties: the same events decide the same way in any order
    ordered = sorted(
        candidates, key=lambda c: (-c.campaign.priority, c.at, c.campaign.id, c.occurrence)
    )
    decisions = []
    winners: list[str] = []
    for candidate in ordered:
        decision = decide(candidate, profile, ctx)
        if decision.reason == "global_cap" and winners:
            decision.reason = "outranked"
            decision.rules[-1] = Rule("priority", False, f"slot taken by {', '.join(winners)}")
        sends = decision.action in ("send", "holdout") and decision.reason != "duplicate"
        record(profile, candidate, decision, ctx.now, ctx.cell() if sends else "")
        if decision.action in ("send", "holdout"):
            winners.append(candidate.campaign.id)
        decisions.append(decision)
    return decisions


def record(
    profile: Profile, candidate: Candidate, decision: Decision, now: int, cell: str = ""
) -> None:
    """Write the decision into the profile's campaign state (same write as the events);
    `cell`: the user's response cell, kept with a send and its exposure."""
    state = profile.messaging
    campaign = candidate.campaign
    if state.pending:
        state.pending = [
            p
            for p in state.pending
            if (p.campaign, p.occurrence) != (campaign.id, candidate.occurrence)
        ]
    if decision.reason == "duplicate":
        return
    if decision.action == "wait":
        assert decision.wait_until is not None
        state.pending.append(
            PendingTrigger(
                campaign=campaign.id,
                occurrence=candidate.occurrence,
                due_at=decision.wait_until,
                since=candidate.at,
                data=_flat(candidate.data),
            )
        )
        return
    state.occurrences[candidate.key] = now
    if decision.action in ("send", "holdout") and campaign.goal is not None:
        state.exposures.append(
            Exposure(
                campaign=campaign.id,
                variant=decision.variant or "holdout",
                goal=campaign.goal.event,
                at=now,
                until=now + seconds(campaign.goal.within),
                cell=cell,
            )
        )
    if decision.action not in ("send", "holdout"):
        return
    # a holdout's would-be send is booked like a send (no job: nothing goes out), so the
    # holdout meets max_per_user, cooldown and the category caps just as the exposed do
    assert decision.variant is not None
    mark = state.campaigns.setdefault(campaign.id, CampaignMark())
    mark.sends += 1
    mark.last_at = max(mark.last_at, now)
    held = decision.action == "holdout"
    job_id = None
    if not held:
        job_id, _ = campaign_job_id(profile.user_id, campaign.id, candidate.occurrence)
    state.sends.append(
        SendRecord(
            at=now,
            campaign=campaign.id,
            category=campaign.category,
            variant=decision.variant,
            job=job_id,
            cell=cell,
        )
    )
    if not held:
        state.outbox.append(
            OutboxJob(
                campaign=campaign.id,
                variant=decision.variant,
                occurrence=candidate.occurrence,
                at=now,
                data=_flat(candidate.data),
            )
        )


def conversions(profile: Profile, events: Iterable[IncomingEvent]) -> list[Exposure]:
    """Exposures converted by these events (each exposure converts once, then leaves)."""
    converted = []
    remaining = []
    by_name: dict[str, list[int]] = {}
    for event in events:
        by_name.setdefault(event.name, []).append(int(event.timestamp.timestamp()))
    for exposure in profile.messaging.exposures:
        times = by_name.get(exposure.goal, [])
        if any(exposure.at <= t <= exposure.until for t in times):
            converted.append(exposure)
        else:
            remaining.append(exposure)
    profile.messaging.exposures = remaining
    return converted


def plan_schedules(
    playbook: Playbook, profile: Profile, now: int, zone: str | ZoneReader | None
) -> None:
    """Keep each schedule campaign's next local slot in the profile (the due index finds it).
    With no zone known a local slot is planned on UTC: the user is met then, and the decision
    withholds marketing (`unknown_timezone`), counted, rather than the schedule going quiet."""
    state = profile.messaging
    for campaign_id in list(state.schedule_next):
        campaign = playbook.campaigns.get(campaign_id)
        if campaign is None or campaign.trigger.schedule is None:
            del state.schedule_next[campaign_id]
    for campaign in playbook.on_schedule:
        schedule = campaign.trigger.schedule
        assert schedule is not None
        slot = state.schedule_next.get(campaign.id)
        if slot is None or slot <= now:
            state.schedule_next[campaign.id] = next_schedule_slot(
                schedule.cron, now, (zone_of(zone) if schedule.local_time else None) or "UTC"
            )


def prune(profile: Profile, now: int) -> None:
    # assigned only when something goes: this runs for every event of every user
    state = profile.messaging
    if any(now - s.at >= WEEK for s in state.sends):
        state.sends = [s for s in state.sends if now - s.at < WEEK]
    if any(e.until < now for e in state.exposures):
        state.exposures = [e for e in state.exposures if e.until >= now]
    if any(now - job.at >= OUTBOX_KEEP for job in state.outbox):
        state.outbox = [job for job in state.outbox if now - job.at < OUTBOX_KEEP]
    if len(state.pending) > 1:
        state.pending = sorted(state.pending, key=lambda p: p.due_at)[:MAX_PENDING]
    occurrences = state.occurrences
    if occurrences and now - min(occurrences.values()) >= OCCURRENCE_MEMORY:
        occurrences = {k: at for k, at in occurrences.items() if now - at < OCCURRENCE_MEMORY}
    if len(occurrences) > MAX_OCCURRENCES:  # trimmed with room to spare: not a sort per event
        newest = sorted(occurrences.items(), key=lambda item: -item[1])[: MAX_OCCURRENCES * 3 // 4]
        occurrences = dict(newest)
    if occurrences is not state.occurrences:
        state.occurrences = occurrences


def next_due(playbook: Playbook, profile: Profile, now: int) -> int | None:
    """The earliest moment campaigns need this profile looked at again."""
    moments = [p.due_at for p in profile.messaging.pending]
    moments += list(profile.messaging.schedule_next.values())
    for campaign in playbook.on_inactivity:
        inactivity = campaign.trigger.inactivity
        assert inactivity is not None
        last = _last_activity(profile, inactivity.event)
        if last is not None and f"{campaign.id}|i:{last}" not in profile.messaging.occurrences:
            moments.append(last + inactivity.days * DAY)
    if playbook.on_schedule:
        moments.append(now + SCHEDULE_HEARTBEAT)
    future = [max(m, now + 60) for m in moments]  # never in the past: at least a minute on
    return min(future) if future else None


# --- preview (marketers: "what would this user get, and why?") -----------------------------
