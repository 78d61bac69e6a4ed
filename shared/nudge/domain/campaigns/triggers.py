"""Campaign triggers: the candidate sends an event, a stage change, a fence transition or the
clock (inactivity, schedules in the user's own time) makes for a user."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from nudge.clock import DAY
from nudge.domain.campaigns.rules import WEEK, template_data
from nudge.domain.profiles.segments import test_value
from nudge.models.campaign import Campaign, seconds
from nudge.models.events import IncomingEvent
from nudge.models.profile import (
    PendingTrigger,
    Profile,
    Transition,
)

OCCURRENCE_MEMORY = 35 * DAY  # longer than any inactivity or schedule period we re-check
MAX_OCCURRENCES = 64
MAX_PENDING = 16
SCHEDULE_HEARTBEAT = WEEK  # every profile is met at least weekly while schedules exist


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
