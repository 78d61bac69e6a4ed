"""Geofences inside the event pipeline: location events -> enter / exit / dwell transitions.

The per-user state (which fences the user is in, never positions) rides in the profile and is
written with it, so transitions are derived exactly once per location event, in any order,
whatever is redelivered. Users without location consent are never tracked: their state is
dropped and no transition is derived.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from nudge.domain.config import EngagementConfig
from nudge.domain.messaging.consent import effective
from nudge.models.campaign import Campaign
from nudge.models.events import IncomingEvent
from nudge.models.profile import Profile
from nudge.services.ports import FenceCatalog, PreferenceReader

if TYPE_CHECKING:
    from nudge.domain.geofencing.transitions import TransitionRules
    from nudge.models.geofence import FenceTransition, LocationUpdate

REGION_EVENTS = {"region_entered": "enter", "region_exited": "exit"}
SOURCES = {"region", "significant_change", "visit", "fix"}


def location_updates(events: Iterable[IncomingEvent]) -> list[LocationUpdate]:
    """Events that carry a position (`location`) or an OS region callback (by fence key)."""
    from pydantic import ValidationError

    from nudge.models.geofence import LocationUpdate, RegionSignal

    updates = []
    for event in events:
        region = None
        kind = REGION_EVENTS.get(event.name)
        key = event.properties.get("region")
        if kind is not None and isinstance(key, str):
            try:
                region = RegionSignal(fence_key=key, kind=kind)
            except ValidationError:
                region = None  # not one of ours: the position (if any) still counts
        if event.location is None and region is None:
            continue
        source = event.properties.get("source")
        try:
            updates.append(
                LocationUpdate(
                    event_id=event.event_id,
                    timestamp=event.timestamp,
                    lat=event.location.lat if event.location else None,
                    lng=event.location.lng if event.location else None,
                    accuracy_m=event.location.accuracy_m if event.location else None,
                    source=source if source in SOURCES else ("region" if region else "fix"),
                    region=region,
                )
            )
        except ValidationError:
            continue  # an impossible report never becomes a transition
    return updates


def dwell_thresholds(campaigns: Iterable[Campaign]) -> tuple[int, ...]:
    minutes = {
        c.trigger.geofence.dwell_minutes
        for c in campaigns
        if c.trigger.geofence is not None and c.trigger.geofence.dwell_minutes
    }
    return tuple(sorted(minutes)) or (5,)


@dataclass
class GeoTracker:
    fences: FenceCatalog
    devices: PreferenceReader
    config: EngagementConfig
    _rules: tuple[tuple[int, ...], TransitionRules] | None = field(default=None, init=False)

    def rules(self, campaigns: Iterable[Campaign]) -> TransitionRules:
        from nudge.domain.geofencing.transitions import TransitionRules

        wanted = dwell_thresholds(campaigns)
        if self._rules is None or self._rules[0] != wanted:
            self._rules = (wanted, TransitionRules(dwell_minutes=wanted))
        return self._rules[1]

    def _consented(self, user_id: str) -> bool:
        prefs = effective(self.devices.preferences(user_id), self.config.consent)
        return bool(prefs.categories.get("location", False))

    def track(
        self,
        profile: Profile,
        events: Iterable[IncomingEvent],
        now: int,
        campaigns: Iterable[Campaign] = (),
    ) -> list[FenceTransition]:
        """Fold location events into `profile.geo` (mutated); the transitions they cause."""
        updates = location_updates(events)
        if not updates:
            return []
        index = self.fences.current_index()
        if index is None:
            return []
        from nudge.domain.geofencing.transitions import apply_location_updates

        consented = self._consented(profile.user_id)
        result = apply_location_updates(
            _state(profile),
            updates,
            index,
            now=datetime.fromtimestamp(now, tz=UTC),
            consented=consented,
            rules=self.rules(campaigns),
        )
        _keep(profile, result.state)
        if not consented:
            profile.location = None  # no location consent: no last known area either
        return result.transitions

    def due(
        self, profile: Profile, now: int, campaigns: Iterable[Campaign] = ()
    ) -> list[FenceTransition]:
        """Dwell thresholds reached while the phone said nothing (called by the scheduler)."""
        if profile.geo is None:
            return []
        index = self.fences.current_index()
        if index is None:
            return []
        from nudge.domain.geofencing.transitions import due_dwells

        result = due_dwells(
            _state(profile),
            index,
            now=datetime.fromtimestamp(now, tz=UTC),
            consented=self._consented(profile.user_id),
            rules=self.rules(campaigns),
        )
        _keep(profile, result.state)
        return result.transitions

    def next_due(self, profile: Profile, campaigns: Iterable[Campaign] = ()) -> int | None:
        if profile.geo is None:
            return None
        from nudge.domain.geofencing.transitions import next_dwell_due

        due = next_dwell_due(_state(profile), self.rules(campaigns))
        return int(due.timestamp()) if due is not None else None


def _state(profile: Profile) -> Any:
    from nudge.models.geofence import GeofenceState

    return GeofenceState.model_validate(profile.geo) if profile.geo is not None else None


def _keep(profile: Profile, state: Any) -> None:
    profile.geo = state.model_dump(mode="json", exclude_defaults=True) if state else None
