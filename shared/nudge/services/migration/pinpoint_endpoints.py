"""Pinpoint endpoints into Nudge: profiles, devices and consent, through the usual stores.

Every write is compared first with what is stored and skipped when it would change nothing,
and made conditionally (profiles and preferences by version, devices by time): importing the
same export twice writes nothing the second time, and an import stopped midway is resumed by
running it again. Opt-outs go through DevicesService.update_preferences, so they leave the
same consent evidence and audit trail (`c#` history items) as the app's, with the source
`pinpoint-import`; no opt-out analytics events are sent (nobody opted out of a Nudge message).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields

from nudge.clock import Clock, to_epoch
from nudge.domain.config import EngagementConfig
from nudge.domain.messaging.consent import effective
from nudge.domain.migration.pinpoint_endpoints import UserPlan, merge_profile, same_device
from nudge.models.device import CATEGORIES, Preferences, PreferencesUpdate
from nudge.models.profile import Profile
from nudge.services.messaging.devices import MAX_DEVICES_PER_USER, DevicesService
from nudge.services.ports import DeviceStore, HistoryStore, ProfileStore
from nudge.services.retry import MAX_WRITE_ATTEMPTS, pause_before_retry

SOURCE = "pinpoint-import"
BATCH_READ = 100  # users per BatchGetItem


class ImportConflict(RuntimeError):
    """A profile kept changing under the import (live traffic): re-run to finish it."""


@dataclass
class ImportTotals:
    """What the import found and what it wrote (writes stay 0 on a re-run)."""

    users: int = 0
    devices: int = 0
    needs_reregistration: int = 0
    opted_out: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> endpoints
    erased_users: int = 0
    attributes_dropped: int = 0
    profiles_written: int = 0
    devices_written: int = 0
    preferences_written: int = 0

    def add(self, other: ImportTotals) -> None:
        for name in (f.name for f in fields(self)):
            mine = getattr(self, name)
            if isinstance(mine, Counter):
                mine.update(getattr(other, name))
            else:
                setattr(self, name, mine + getattr(other, name))


@dataclass
class EndpointImporter:
    profiles: ProfileStore
    devices: DeviceStore
    history: HistoryStore
    config: EngagementConfig
    clock: Clock

    def import_users(self, plans: Sequence[UserPlan]) -> ImportTotals:
        """Apply each user's plan; one batched read of profiles and preferences per 100 users."""
        totals = ImportTotals()
        for start in range(0, len(plans), BATCH_READ):
            chunk = plans[start : start + BATCH_READ]
            ids = [plan.user_id for plan in chunk]
            profiles = self.profiles.get_latest(ids)
            preferences = self.devices.preferences_many(ids)
            for plan in chunk:
                found = self._import_user(
                    plan, profiles.get(plan.user_id), preferences.get(plan.user_id)
                )
                totals.add(found)
        return totals

    def _import_user(
        self, plan: UserPlan, profile: Profile | None, prefs: Preferences | None
    ) -> ImportTotals:
        totals = ImportTotals(users=1, skipped=Counter(plan.skipped))
        erased_at = profile.erased_at if profile is not None else None
        if erased_at is not None and plan.latest_at <= erased_at:  # erased since: not revived
            totals.erased_users = 1
            return totals
        totals.needs_reregistration = plan.needs_reregistration
        if plan.opted_out:
            totals.opted_out = 1
            prefs, totals.preferences_written = self._opt_out(plan.user_id, prefs)
        view = effective(prefs, self.config.consent)
        totals.profiles_written, totals.attributes_dropped = self._merge(
            plan, profile, location_allowed=view.categories["location"]
        )
        for outcome in self._put_devices(plan):
            if outcome == "written":
                totals.devices_written += 1
            if outcome in ("written", "unchanged"):
                totals.devices += 1
            else:
                totals.skipped[outcome] += 1
        return totals

    def _opt_out(self, user_id: str, prefs: Preferences | None) -> tuple[Preferences | None, int]:
        """Every category off, unless they are already: (preferences now, written 0/1)."""
        if not any(effective(prefs, self.config.consent).categories.values()):
            return prefs, 0
        service = DevicesService(self.devices, self.history, self.config, self.clock)
        update = PreferencesUpdate(categories=dict.fromkeys(CATEGORIES, False))
        service.update_preferences(user_id, update, source=SOURCE)
        return self.devices.preferences(user_id), 1

    def _merge(
        self, plan: UserPlan, profile: Profile | None, location_allowed: bool
    ) -> tuple[int, int]:
        """Fold the plan into the profile: (written 0/1, attributes dropped at the cap)."""
        for attempt in range(MAX_WRITE_ATTEMPTS):
            pause_before_retry(attempt)
            if attempt:
                profile = self.profiles.get(plan.user_id)
            merged = merge_profile(profile, plan, location_allowed)
            if not merged.changed:
                return 0, len(merged.dropped)
            merged.profile.version = (profile.version if profile else 0) + 1
            if self.profiles.save(merged.profile, profile, self.config.due_shards):
                return 1, len(merged.dropped)
        raise ImportConflict(f"profile {plan.user_id!r} kept changing; run the import again")

    def _put_devices(self, plan: UserPlan) -> list[str]:
        """Per planned device: written, unchanged, or the reason it was skipped."""
        if not plan.devices:
            return []
        now = to_epoch(self.clock.now())
        stored = {d.device_id: d for d in self.devices.devices(plan.user_id, now)}
        outcomes = []
        for device in plan.devices:
            previous = stored.get(device.device_id)
            if previous is not None and same_device(previous, device):
                outcomes.append("unchanged")
                continue
            if previous is None and len(stored) >= MAX_DEVICES_PER_USER:
                outcomes.append(f"the user has {MAX_DEVICES_PER_USER} devices already")
                continue
            holders = self.devices.holders_of(device.token)
            if any(holder != (plan.user_id, device.device_id) for holder in holders):
                # the app registered this token itself since: its registration wins
                outcomes.append("token registered to another Nudge device already")
                continue
            if previous is not None:
                device = device.model_copy(update={"created_at": previous.created_at})
            if not self.devices.put_device(device):
                outcomes.append("a newer registration of the device is stored")
                continue
            stored[device.device_id] = device
            outcomes.append("written")
        return outcomes
