"""Enter / exit / dwell from location updates: a pure state machine, time from the events
and an injected `now`.

Each update is classified per fence, independently of the state:
- DEEP: inside by more than the entry margin (or the OS said "enter" for that fence);
- FAR: outside by more than the exit margin (or the OS said "exit");
- anything in between is the hysteresis band and changes nothing.
The exit margin is max(min_margin_m, accuracy * margin_per_accuracy_m); the entry margin is
the same capped at half the fence's inradius (so small fences can still be entered). A fix
whose accuracy is worse than `max_accuracy_m` is ignored entirely.

Ordering and duplicates (updates are keyed by (timestamp, event_id)):
- A fix is applied only if newer than the newest fix applied (`fix_at`/`fix_id`), and a
  region signal only if not older than it: a fix speaks for every fence at once.
- Per fence, an observation applies only if newer than the fence's `last_at`/`last_id`;
  an exit leaves a small record behind (until `max_event_age`) for that purpose.
- Updates older than `max_event_age` (or from too far in the future) are ignored, and state
  entries are only pruned once anything they could guard against would be ignored anyway.
Hence the observations applied to a fence are always in increasing order, i.e. a
subsequence of the in-order stream, and a subsequence never has more in→out alternations:
reordering and duplication can drop transitions, never add them; the same update twice
yields nothing the second time. `apply_location_updates` sorts a batch first.

Dwell fires once per stay per threshold, at entry + threshold: on the next update that shows
the user still there, or from `due_dwells(state, now)` (the OS sends nothing while a user
stands still). Positions are never stored; the state holds fence keys and timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from nudge.domain.geofencing.index import FenceIndex, IndexedFence
from nudge.models.geofence import (
    FencePresence,
    FenceTransition,
    GeofenceState,
    LocationUpdate,
    TransitionKind,
)


@dataclass(frozen=True)
class TransitionRules:
    max_accuracy_m: float = 200.0  # worse fixes are ignored (cell-tower or Wi-Fi guesses)
    assumed_accuracy_m: float = 50.0  # when the update does not say
    min_margin_m: float = 10.0
    margin_per_accuracy_m: float = 1.0  # margin = max(min_margin_m, factor * accuracy)
    dwell_minutes: tuple[int, ...] = (5,)  # each fires once per stay
    max_event_age: timedelta = timedelta(hours=1)  # older updates are stale: ignored
    max_clock_skew: timedelta = timedelta(minutes=5)  # updates from further ahead: ignored
    state_ttl: timedelta = timedelta(hours=12)  # the state item expires this long after use

    def __post_init__(self) -> None:
        if not 0 < self.max_accuracy_m <= 10_000:
            raise ValueError("max_accuracy_m must be in (0, 10000]")
        if not self.dwell_minutes or any(m < 1 or m > 24 * 60 for m in self.dwell_minutes):
            raise ValueError("dwell_minutes must hold 1 to 1440 minute thresholds")
        if self.state_ttl <= self.max_event_age + self.max_clock_skew:
            raise ValueError("state_ttl must exceed max_event_age + max_clock_skew")


DEFAULT_RULES = TransitionRules()


class Observation(Enum):
    DEEP = "deep"
    BAND = "band"
    FAR = "far"


@dataclass
class GeofenceResult:
    """The new state (None: nothing to keep, delete the item) and the transitions."""

    state: GeofenceState | None
    transitions: list[FenceTransition] = field(default_factory=list)


def _key(at: datetime, event_id: str) -> tuple[datetime, str]:
    return at, event_id


def _transition(
    fence: IndexedFence,
    kind: TransitionKind,
    at: datetime,
    event_id: str | None,
    dwell: int | None = None,
) -> FenceTransition:
    stamp = int(at.timestamp() * 1000)
    suffix = f":{dwell}" if dwell is not None else ""
    return FenceTransition(
        transition_id=f"{kind}:{fence.key}:{stamp}{suffix}",
        kind=kind,
        fence_key=fence.key,
        set_id=fence.set_id,
        fence_id=fence.fence_id,
        name=fence.name,
        tags=list(fence.tags),
        at=at,
        event_id=event_id,
        dwell_minutes=dwell,
    )


def _prune(state: GeofenceState | None, now: datetime, rules: TransitionRules) -> GeofenceState:
    if state is None or state.expires_at <= now:
        return GeofenceState(expires_at=now + rules.state_ttl)
    horizon = now - rules.max_event_age
    fences = {
        key: presence.model_copy()
        for key, presence in state.fences.items()
        if presence.inside or presence.last_at >= horizon
    }
    fix_at, fix_id = (state.fix_at, state.fix_id)
    return GeofenceState(fences=fences, fix_at=fix_at, fix_id=fix_id, expires_at=state.expires_at)


def _dwells(
    fence: IndexedFence,
    presence: FencePresence,
    until: datetime,
    event_id: str | None,
    rules: TransitionRules,
) -> list[FenceTransition]:
    fired = []
    for minutes in sorted(set(rules.dwell_minutes)):
        due = presence.since + timedelta(minutes=minutes)
        if minutes > presence.dwelt and due <= until:
            fired.append(_transition(fence, "dwell", due, event_id, minutes))
            presence.dwelt = minutes
    return fired


def _observe(
    update: LocationUpdate, state: GeofenceState, index: FenceIndex, rules: TransitionRules
) -> dict[str, Observation]:
    """Per fence key, what this update says (state-independent, see the module docstring)."""
    observations: dict[str, Observation] = {}
    key = _key(update.timestamp, update.event_id)
    fix_applies = update.has_position
    if state.fix_at is not None and state.fix_id is not None:
        last_fix = _key(state.fix_at, state.fix_id)
        if key <= last_fix:
            fix_applies = False
            if update.timestamp < state.fix_at:
                return {}  # older than what the newest fix already said about every fence
    accuracy = update.accuracy_m if update.accuracy_m is not None else rules.assumed_accuracy_m
    if fix_applies and accuracy <= rules.max_accuracy_m:
        assert update.lat is not None and update.lng is not None
        lat, lng = update.lat, update.lng
        margin = max(rules.min_margin_m, accuracy * rules.margin_per_accuracy_m)
        near = {fence.key: fence for fence, _ in index.lookup(lat, lng)}
        for fence_key in state.fences:
            fence = index.get(fence_key)
            if fence is not None:
                near[fence_key] = fence
        for fence_key, fence in near.items():
            distance = fence.signed_distance_m(lat, lng)
            if distance <= -min(margin, fence.inradius_m * 0.5):
                observations[fence_key] = Observation.DEEP
            elif distance > margin:
                observations[fence_key] = Observation.FAR
            else:
                observations[fence_key] = Observation.BAND
        state.fix_at, state.fix_id = key  # a poor fix says nothing: it moves nothing either
    if update.region is not None and index.get(update.region.fence_key) is not None:
        signal = update.region
        observations[signal.fence_key] = (
            Observation.DEEP if signal.kind == "enter" else Observation.FAR
        )
    return observations


def apply_location_update(
    state: GeofenceState | None,
    update: LocationUpdate,
    index: FenceIndex,
    *,
    now: datetime,
    consented: bool,
    rules: TransitionRules = DEFAULT_RULES,
) -> GeofenceResult:
    """Fold one location update into a user's geofence state.

    Without location consent nothing is tracked: no state (delete any stored item) and no
    transitions. Otherwise returns the new state (store it with `expires_at` as its TTL)
    and the enter/exit/dwell transitions, oldest first.
    """
    if not consented:
        return GeofenceResult(None, [])
    current = _prune(state, now, rules)
    if (
        update.timestamp < now - rules.max_event_age
        or update.timestamp > now + rules.max_clock_skew
    ):
        return GeofenceResult(_finish(current, now, rules), [])
    key = _key(update.timestamp, update.event_id)
    transitions: list[FenceTransition] = []
    for fence_key, observation in sorted(_observe(update, current, index, rules).items()):
        fence = index.get(fence_key)
        if fence is None:
            continue
        presence = current.fences.get(fence_key)
        if presence is not None and key <= _key(presence.last_at, presence.last_id):
            continue  # older than (or the same as) what this fence already applied
        inside = presence is not None and presence.inside
        if not inside and observation is Observation.DEEP:
            presence = FencePresence(
                inside=True, since=update.timestamp, last_at=update.timestamp, last_id=key[1]
            )
            current.fences[fence_key] = presence
            transitions.append(_transition(fence, "enter", update.timestamp, update.event_id))
            transitions.extend(_dwells(fence, presence, update.timestamp, update.event_id, rules))
        elif inside and observation is Observation.FAR:
            current.fences[fence_key] = FencePresence(
                inside=False, since=update.timestamp, last_at=update.timestamp, last_id=key[1]
            )
            transitions.append(_transition(fence, "exit", update.timestamp, update.event_id))
        elif presence is not None:
            presence.last_at, presence.last_id = key
            if presence.inside:
                transitions.extend(
                    _dwells(fence, presence, update.timestamp, update.event_id, rules)
                )
        elif observation is Observation.FAR and update.region is not None:
            # The OS told us this fence specifically: remember it against older news.
            current.fences[fence_key] = FencePresence(
                inside=False, since=update.timestamp, last_at=update.timestamp, last_id=key[1]
            )
    transitions.sort(key=lambda item: (item.at, item.fence_key, item.kind))
    return GeofenceResult(_finish(current, now, rules), transitions)


def _finish(state: GeofenceState, now: datetime, rules: TransitionRules) -> GeofenceState:
    state.expires_at = max(state.expires_at, now + rules.state_ttl)
    return state


def apply_location_updates(
    state: GeofenceState | None,
    updates: list[LocationUpdate],
    index: FenceIndex,
    *,
    now: datetime,
    consented: bool,
    rules: TransitionRules = DEFAULT_RULES,
) -> GeofenceResult:
    """A batch, sorted by (timestamp, event_id) first so in-batch reordering loses nothing."""
    if not consented:
        return GeofenceResult(None, [])
    result = GeofenceResult(state, [])
    for update in sorted(updates, key=lambda item: (item.timestamp, item.event_id)):
        step = apply_location_update(
            result.state, update, index, now=now, consented=True, rules=rules
        )
        result = GeofenceResult(step.state, result.transitions + step.transitions)
    return result


def due_dwells(
    state: GeofenceState | None,
    index: FenceIndex,
    *,
    now: datetime,
    consented: bool,
    rules: TransitionRules = DEFAULT_RULES,
) -> GeofenceResult:
    """Dwell thresholds reached by `now` for fences the user is still inside (for a timer or
    the scheduler's due-time index; see `next_dwell_due`). Each fires once per stay."""
    if not consented:
        return GeofenceResult(None, [])
    if state is None:
        return GeofenceResult(None, [])
    current = _prune(state, now, rules)
    transitions: list[FenceTransition] = []
    for fence_key, presence in sorted(current.fences.items()):
        fence = index.get(fence_key)
        if fence is not None and presence.inside:
            transitions.extend(_dwells(fence, presence, now, None, rules))
    return GeofenceResult(current, transitions)


def next_dwell_due(
    state: GeofenceState | None, rules: TransitionRules = DEFAULT_RULES
) -> datetime | None:
    """When the next dwell threshold falls due, for the scheduler's due-time index."""
    if state is None:
        return None
    due = [
        presence.since + timedelta(minutes=minutes)
        for presence in state.fences.values()
        if presence.inside
        for minutes in rules.dwell_minutes
        if minutes > presence.dwelt
    ]
    return min(due, default=None)
