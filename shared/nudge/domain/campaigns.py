"""Campaign decisioning: which campaigns fire for a user now, and whether each may send.

One sequence per candidate send, each step recorded with its reason:
  active -> audience -> consent -> holdout -> per-campaign cap -> cooldown -> global caps
  -> send window -> (quiet hours: deferred by push_sender, never dropped unless stale).
Candidates that compete in one pass are decided in priority order, so a higher-priority
campaign takes the last slot of a cap. Every decision is written into the profile in the same
conditional write as the events that caused it: a redelivered event finds it already made.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from nudge.clock import DAY
from nudge.domain.config import CategoryCaps
from nudge.domain.consent import EffectivePreferences
from nudge.domain.segments import explain, test_value
from nudge.domain.templates import MessageTemplate, MessageText, TemplateError, _compile
from nudge.models.campaign import Campaign, NamedSegments, Segment, seconds
from nudge.models.device import Device
from nudge.models.events import IncomingEvent
from nudge.models.profile import (
    CampaignMark,
    Exposure,
    OutboxJob,
    PendingTrigger,
    Profile,
    SendRecord,
    Transition,
)

WEEK = 7 * DAY
OCCURRENCE_MEMORY = 35 * DAY  # longer than any inactivity or schedule period we re-check
MAX_OCCURRENCES = 64
MAX_PENDING = 16
OUTBOX_KEEP = 30 * 60  # longer than SQS redelivery of the events that decided them
SCHEDULE_HEARTBEAT = WEEK  # every profile is met at least weekly while schedules exist
TEMPLATE_NAMES = frozenset({"user", "event", "campaign", "fence", "station"})


# --- validation beyond the schema ------------------------------------------------------------


def check_campaign(
    campaign: Campaign,
    segments: NamedSegments | None,
    catalog: frozenset[str] | None = None,
) -> list[str]:
    """Problems the schema cannot see, as 'field: message'."""
    problems = []
    known = set(segments.segments) if segments else set()
    for name in sorted(campaign.audience.segment_names() - known):
        problems.append(f"audience: unknown segment {name!r}")
    if catalog:
        for name in sorted(campaign.event_names() - catalog):
            problems.append(f"event {name!r} is not in the app's event catalog")
    for name in sorted(campaign.template_variables() - TEMPLATE_NAMES):
        allowed = ", ".join(sorted(TEMPLATE_NAMES))
        problems.append(f"variants: unknown template variable {name!r} (use one of: {allowed})")
    texts = [
        (f"variants.{i}", v.title, v.body, v.deep_link) for i, v in enumerate(campaign.variants)
    ]
    for locale, overrides in campaign.localization.items():
        for vid, text in overrides.variants.items():
            texts.append((f"localization.{locale}.{vid}", text.title, text.body, text.deep_link))
    for where, *sources in texts:
        for source in sources:
            if source:
                try:
                    _compile(source)
                except TemplateError as error:
                    problems.append(f"{where}: {error}")
    fence = campaign.trigger.geofence
    if fence is not None and fence.on == "dwell" and fence.dwell_minutes is None:
        problems.append("trigger.geofence.dwell_minutes: needed when on: dwell")
    return problems


# --- deterministic assignment ---------------------------------------------------------------


@lru_cache(maxsize=65_536)  # the same users meet the same campaigns event after event
def _bucket(*parts: str, size: int = 10_000) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8]) % size


def in_holdout(campaign: Campaign, user_id: str) -> bool:
    """Stable across versions: depends only on the campaign id and the user."""
    return _bucket("holdout", campaign.id, user_id) < round(campaign.holdout_pct * 100)


def pick_variant(campaign: Campaign, user_id: str) -> str:
    total = sum(variant.weight for variant in campaign.variants)
    point = _bucket("variant", campaign.id, user_id, size=total)
    for variant in campaign.variants:
        if point < variant.weight:
            return variant.id
        point -= variant.weight
    raise AssertionError("weights sum to total")  # pragma: no cover


def campaign_job_id(user_id: str, campaign_id: str, occurrence: str) -> tuple[str, str]:
    """(job id, dedupe key) of one campaign send: the app names the job id in its events."""
    key = f"c:{campaign_id}:{occurrence}"
    digest = hashlib.blake2b(f"{user_id}|{key}".encode(), digest_size=12).hexdigest()
    return f"cmp-{digest}", key


def campaign_template(campaign: Campaign, variant_id: str) -> MessageTemplate:
    """The variant as a message template: default text plus each locale's overrides."""
    variant = next(v for v in campaign.variants if v.id == variant_id)
    base = MessageText(
        title=variant.title, body=variant.body, image=variant.image, deep_link=variant.deep_link
    )
    text = {campaign.default_locale: base}
    for locale, overrides in campaign.localization.items():
        override = overrides.variants.get(variant_id)
        if override is not None:
            text[locale] = base.model_copy(update=override.model_dump(exclude_none=True))
    return MessageTemplate(
        id=f"{campaign.id}.{variant_id}",
        category=campaign.category,
        default_locale=campaign.default_locale,
        text=text,
        respect_quiet_hours=campaign.delivery.respect_quiet_hours,
    )


# --- candidates -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    campaign: Campaign
    occurrence: str  # one per trigger occurrence: the unit of "exactly one send"
    at: int  # the triggering moment
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.campaign.id}|{self.occurrence}"


def _event_matches(campaign: Campaign, event: IncomingEvent) -> bool:
    trigger = campaign.trigger.event
    if trigger is None or trigger.name != event.name:
        return False
    for key, test in trigger.where.items():
        value = event.properties.get(key)
        if isinstance(value, list) or not test_value(value, test):
            return False
    return True


def _scalar_properties(event: IncomingEvent) -> dict[str, Any]:
    return {k: v for k, v in event.properties.items() if not isinstance(v, list)}


@dataclass(frozen=True)
class Playbook:
    """The active campaigns, indexed by what wakes them (built once per published set)."""

    campaigns: Mapping[str, Campaign]
    by_event: Mapping[str, list[Campaign]]
    on_transition: list[Campaign]
    on_inactivity: list[Campaign]
    on_schedule: list[Campaign]
    on_fence: list[Campaign]

    @classmethod
    def of(cls, campaigns: Iterable[Campaign]) -> Playbook:
        active = {c.id: c for c in campaigns if c.status == "active"}
        by_event: dict[str, list[Campaign]] = {}
        for campaign in active.values():
            if campaign.trigger.event is not None:
                by_event.setdefault(campaign.trigger.event.name, []).append(campaign)
        kinds = list(active.values())
        return cls(
            campaigns=active,
            by_event=by_event,
            on_transition=[c for c in kinds if c.trigger.lifecycle is not None],
            on_inactivity=[c for c in kinds if c.trigger.inactivity is not None],
            on_schedule=[c for c in kinds if c.trigger.schedule is not None],
            on_fence=[c for c in kinds if c.trigger.geofence is not None],
        )


def event_candidates(
    playbook: Playbook, events: Iterable[IncomingEvent]
) -> tuple[list[Candidate], list[PendingTrigger]]:
    """Fresh events -> sends to decide now, and delayed ones to decide later."""
    now_list: list[Candidate] = []
    later: list[PendingTrigger] = []
    for event in events:
        at, data = 0, {}
        for campaign in playbook.by_event.get(event.name, ()):
            if not _event_matches(campaign, event):
                continue
            if not at:  # once per event, only for events that wake a campaign
                at, data = int(event.timestamp.timestamp()), _scalar_properties(event)
            occurrence = f"e:{event.event_id}"
            assert campaign.trigger.event is not None
            if campaign.trigger.event.delay:
                due = at + seconds(campaign.trigger.event.delay)
                later.append(
                    PendingTrigger(
                        campaign=campaign.id, occurrence=occurrence, due_at=due, since=at, data=data
                    )
                )
            else:
                now_list.append(Candidate(campaign, occurrence, at, {"event": data}))
    return now_list, later


def transition_candidates(playbook: Playbook, transitions: Iterable[Transition]) -> list[Candidate]:
    found = []
    for campaign in playbook.on_transition:
        trigger = campaign.trigger.lifecycle
        if trigger is None:
            continue
        for move in transitions:
            if move.to_stage != trigger.to:
                continue
            if trigger.from_ is not None and move.from_stage not in trigger.from_:
                continue
            data = {
                "from": move.from_stage.value if move.from_stage else None,
                "to": move.to_stage.value,
            }
            found.append(Candidate(campaign, f"t:{move.at}", move.at, {"event": data}))
    return found


def fence_candidates(playbook: Playbook, transitions: Iterable[Any]) -> list[Candidate]:
    """Geofence transitions (enter / exit / dwell at a fence with the campaign's tags)."""
    found = []
    for move in transitions:
        for campaign in playbook.on_fence:
            trigger = campaign.trigger.geofence
            assert trigger is not None
            if move.kind != trigger.on or not set(trigger.tags) & set(move.tags):
                continue
            if move.kind == "dwell" and move.dwell_minutes != trigger.dwell_minutes:
                continue
            place = {"id": move.fence_id, "name": move.name, "set": move.set_id}
            at = int(move.at.timestamp())
            data = {"fence": place, "station": place, "event": {"fence": move.fence_id}}
            found.append(Candidate(campaign, f"g:{move.transition_id}", at, data))
    return found


def _last_activity(profile: Profile, event: str | None) -> int | None:
    if event is None:
        return profile.last_seen
    counts = profile.counts.get(event)
    return counts.last_at if counts and counts.total else profile.first_seen


def next_schedule_slot(cron: str, after: int, zone: str) -> int:
    """The next cron time strictly after `after`, read on the user's local wall clock.

    Memoised from the start of the hour: every user reaching a slot in the same hour shares
    one croniter computation (it is the costly part of planning schedules).
    """
    slot = _next_slot(cron, after - after % 3600, zone)
    while slot <= after:
        slot = _next_slot(cron, slot, zone)
    return slot


@lru_cache(maxsize=4096)
def _next_slot(cron: str, after: int, zone: str) -> int:
    from croniter import croniter

    local = datetime.fromtimestamp(after, tz=ZoneInfo(zone))
    return int(croniter(cron, local).get_next(datetime).timestamp())


def due_candidates(
    playbook: Playbook, profile: Profile, now: int
) -> tuple[list[Candidate], list[str]]:
    """Delayed triggers, inactivity and schedule slots that are due by `now`.

    Returns the candidates, and the campaigns whose delayed trigger an `unless` event
    cancelled (removed from the profile's pending list here).
    """
    found: list[Candidate] = []
    cancelled: list[str] = []
    state = profile.messaging
    for pending in [p for p in state.pending if p.due_at <= now]:
        campaign = playbook.campaigns.get(pending.campaign)
        if campaign is not None and campaign.trigger.event is not None:
            late = [
                name
                for name in campaign.trigger.event.unless
                if (counts := profile.counts.get(name)) and counts.last_at >= pending.since
            ]
            if late:
                cancelled.append(campaign.id)
                state.pending.remove(pending)
            else:
                data = template_data(pending.data)
                found.append(Candidate(campaign, pending.occurrence, pending.due_at, data))
        elif campaign is not None:  # a send-window wait for any trigger kind
            data = template_data(pending.data)
            found.append(Candidate(campaign, pending.occurrence, pending.since, data))
    for campaign in playbook.on_inactivity:
        inactivity = campaign.trigger.inactivity
        assert inactivity is not None
        last = _last_activity(profile, inactivity.event)
        if last is not None and last + inactivity.days * DAY <= now:
            found.append(Candidate(campaign, f"i:{last}", last + inactivity.days * DAY))
    for campaign in playbook.on_schedule:
        slot = state.schedule_next.get(campaign.id)
        if slot is not None and slot <= now:
            found.append(Candidate(campaign, f"s:{slot}", slot))
    return found, cancelled


# --- the decision sequence ------------------------------------------------------------------


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


@dataclass(frozen=True)
class Context:
    """What decisions need beyond the profile; consent is read only if a candidate gets there."""

    now: int
    zone: str
    named: Mapping[str, Segment]
    caps: Mapping[str, CategoryCaps]
    consent: ConsentReader
    quiet_hours: QuietReader = lambda: None


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


def _sent_day_week(profile: Profile, category: str, now: int) -> tuple[int, int]:
    """Sends of this category in the last 24 hours and in the last 7 days (one pass)."""
    day = week = 0
    for send in profile.messaging.sends:
        if send.category == category and send.at > now - WEEK:
            week += 1
            day += send.at > now - DAY
    return day, week


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
    why = explain(campaign.audience, profile, now, ctx.named)
    if why:
        return stop("suppress", "audience", why)
    rules.append(Rule("audience", True))
    if not ctx.consent().get(campaign.category, False):
        return stop("suppress", "consent", f"no consent for {campaign.category}")
    rules.append(Rule("consent", True, campaign.category))
    if in_holdout(campaign, profile.user_id):
        decision.variant = "holdout"
        return stop("holdout", "holdout", f"in the {campaign.holdout_pct:g}% control group")
    rules.append(Rule("holdout", True))
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
    caps = ctx.caps.get(campaign.category)
    if caps is not None:
        day, week = _sent_day_week(profile, campaign.category, now)
        what = f"{campaign.category} sends"
        if caps.per_day is not None and day >= caps.per_day:
            return stop("suppress", "global_cap", f"{day} {what} in 24h (cap {caps.per_day})")
        if caps.per_week is not None and week >= caps.per_week:
            return stop("suppress", "global_cap", f"{week} {what} in 7d (cap {caps.per_week})")
        rules.append(Rule("global_cap", True, f"{day}/day, {week}/week"))
    opens = _window_wait(campaign, now, ctx.zone)
    if opens is not None:
        if opens - candidate.at > seconds(campaign.delivery.ttl):
            return stop("suppress", "send_window", "the window opens after the message is stale")
        rules.append(Rule("send_window", False, f"waits until {_local(opens, ctx.zone)}"))
        decision.action, decision.reason, decision.wait_until = "wait", "send_window", opens
        return decision
    rules.append(Rule("send_window", True))
    quiet = ctx.quiet_hours() if campaign.delivery.respect_quiet_hours else None
    if quiet is not None:
        local = datetime.fromtimestamp(now, tz=ZoneInfo(ctx.zone)).time()
        start, end = quiet
        quiet_now = start <= local < end if start < end else (local >= start or local < end)
        note = "deferred by push_sender to the end of quiet hours" if quiet_now else ""
        rules.append(Rule("quiet_hours", True, note))
    decision.variant = pick_variant(campaign, profile.user_id)
    return decision


def _local(epoch: int, zone: str) -> str:
    return datetime.fromtimestamp(epoch, tz=ZoneInfo(zone)).strftime("%a %H:%M %Z")


def decide_all(candidates: list[Candidate], profile: Profile, ctx: Context) -> list[Decision]:
    """Decide in priority order; each send counts against the caps of the next candidate."""
    ordered = sorted(candidates, key=lambda c: (-c.campaign.priority, c.at, c.campaign.id))
    decisions = []
    winners: list[str] = []
    for candidate in ordered:
        decision = decide(candidate, profile, ctx)
        if decision.reason == "global_cap" and winners:
            decision.reason = "outranked"
            decision.rules[-1] = Rule("priority", False, f"slot taken by {', '.join(winners)}")
        record(profile, candidate, decision, ctx.now)
        if decision.action == "send":
            winners.append(candidate.campaign.id)
        decisions.append(decision)
    return decisions


def record(profile: Profile, candidate: Candidate, decision: Decision, now: int) -> None:
    """Write the decision into the profile's campaign state (same write as the events)."""
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
            )
        )
    if decision.action == "send":
        assert decision.variant is not None
        mark = state.campaigns.setdefault(campaign.id, CampaignMark())
        mark.sends += 1
        mark.last_at = max(mark.last_at, now)
        job_id, _ = campaign_job_id(profile.user_id, campaign.id, candidate.occurrence)
        state.sends.append(
            SendRecord(
                at=now,
                campaign=campaign.id,
                category=campaign.category,
                variant=decision.variant,
                job=job_id,
            )
        )
        state.outbox.append(
            OutboxJob(
                campaign=campaign.id,
                variant=decision.variant,
                occurrence=candidate.occurrence,
                at=now,
                data=_flat(candidate.data),
            )
        )


def _flat(data: Mapping[str, Any]) -> dict[str, Any]:
    """Template data kept in the outbox: the trigger event's scalar properties (and the
    fence's id, name and set as `fence.*` for geofence triggers)."""
    event = data.get("event")
    flat = dict(event) if isinstance(event, dict) else {}
    fence = data.get("fence")
    if isinstance(fence, dict):
        flat.update({f"fence.{key}": value for key, value in fence.items()})
    return flat


def template_data(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of `_flat`: {'event': {...}, 'fence': {...}, 'station': {...}}."""
    event = {k: v for k, v in flat.items() if not k.startswith("fence.")}
    fence = {k.removeprefix("fence."): v for k, v in flat.items() if k.startswith("fence.")}
    data: dict[str, Any] = {"event": event}
    if fence:
        data["fence"] = data["station"] = fence
    return data


# --- conversions, bookkeeping, due time -----------------------------------------------------


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


def plan_schedules(playbook: Playbook, profile: Profile, now: int, zone: str) -> None:
    """Keep each schedule campaign's next local slot in the profile (the due index finds it)."""
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
                schedule.cron, now, zone if schedule.local_time else "UTC"
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


def preview(
    campaign: Campaign,
    profile: Profile,
    preferences: EffectivePreferences,
    devices: list[Device],
    now: int,
    named: Mapping[str, Segment],
    caps: Mapping[str, CategoryCaps],
    default_zone: str,
    event: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The decision for one user right now, every rule with its reason, and the message."""
    from nudge.domain.delivery_time import resolve_zone
    from nudge.domain.templates import render

    zone, zone_source = resolve_zone(
        preferences.timezone,
        [d.timezone for d in devices],
        [d.locale for d in devices] + [_attribute(profile, "locale")],
        default_zone,
    )
    quiet = preferences.quiet_hours
    ctx = Context(
        now=now,
        zone=zone,
        named=named,
        caps=caps,
        consent=lambda: dict(preferences.categories),
        quiet_hours=lambda: (quiet.start, quiet.end) if quiet else None,
    )
    decision = decide(
        Candidate(campaign, "preview", now, {"event": dict(event or {})}), profile, ctx
    )
    variant = decision.variant if decision.variant not in (None, "holdout") else None
    variant = variant or pick_variant(campaign, profile.user_id)
    locale = next((d.locale for d in devices if d.locale), None) or _attribute(profile, "locale")
    data = {
        "user": {name: a.value for name, a in profile.attributes.items()},
        "event": dict(event or {}),
        "campaign": {"id": campaign.id, "name": campaign.name},
    }
    message: dict[str, Any]
    try:
        rendered = render(campaign_template(campaign, variant), locale, data)
        message = rendered.model_dump(exclude_none=True)
    except TemplateError as error:
        message = {"error": str(error)}
    return {
        "campaign": campaign.id,
        "user_id": profile.user_id,
        "verdict": decision.outcome,
        "variant": decision.variant or variant,
        "zone": f"{zone} ({zone_source})",
        "rules": [
            {"rule": rule.name, "passed": rule.passed, "detail": rule.detail}
            for rule in decision.rules
        ],
        "message": message,
        "devices": sum(1 for d in devices if d.push_enabled),
    }


def _attribute(profile: Profile, name: str) -> str | None:
    attribute = profile.attributes.get(name)
    return str(attribute.value) if attribute is not None else None
