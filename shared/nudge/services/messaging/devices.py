"""Devices and preferences: registration, token moves, consent with its audit trail."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools import Logger

from nudge.clock import DAY, Clock, to_epoch
from nudge.domain.config import EngagementConfig
from nudge.domain.engagement.records import MESSAGE_CATEGORIES
from nudge.domain.messaging.consent import consent_changes, effective
from nudge.domain.profiles.aggregates import ATTRIBUTES_EVENT, OPT_OUT_EVENT
from nudge.models.device import (
    Category,
    ConsentRecord,
    Device,
    DeviceRegistration,
    Preferences,
    PreferencesUpdate,
)
from nudge.models.events import IncomingEvent, QueuedBatch
from nudge.services.ports import DeviceStore, EventPublisher, HistoryStore
from nudge.services.retry import MAX_WRITE_ATTEMPTS, pause_before_retry

MAX_DEVICES_PER_USER = 20
logger = Logger(child=True)  # the handler's logger: same service name and context


def _short_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _facts(device: Device) -> dict[str, str | None]:
    country = None
    if device.locale:
        regions = [p for p in device.locale.replace("_", "-").split("-")[1:] if len(p) == 2]
        country = regions[0].upper() if regions else None
    return {
        "platform": device.platform,
        "app_version": device.app_version,
        "locale": device.locale,
        "timezone": device.timezone,
        "country": country,
    }


class EventsUnavailable(RuntimeError):
    """The events queue refused what must reach the profile: the request is to be retried."""


class PreferencesBusy(RuntimeError):
    """Concurrent updates kept winning: the app should retry (503)."""


@dataclass
class DevicesService:
    store: DeviceStore
    history: HistoryStore
    config: EngagementConfig
    clock: Clock
    events: EventPublisher | None = None  # device facts become profile attributes

    def register(self, user_id: str, device_id: str, registration: DeviceRegistration) -> Device:
        now = to_epoch(self.clock.now())
        existing = {d.device_id: d for d in self.store.devices(user_id, now)}
        previous = existing.get(device_id)
        if previous is None and len(existing) >= MAX_DEVICES_PER_USER:
            # an app must always be able to register: the longest-silent install gives way
            oldest = min(existing.values(), key=lambda d: (d.updated_at, d.device_id))
            self.store.delete_device(user_id, oldest.device_id)
        device = Device(
            user_id=user_id,
            device_id=device_id,
            created_at=previous.created_at if previous else now,
            updated_at=now,
            **registration.model_dump(),
        )
        # A token belongs to one install: if it was registered elsewhere (another account
        # signed in on the same phone), it is detached there first, unless that install
        # has moved on to another token in the meantime.
        for holder in self.store.holders_of(registration.token):
            if holder != (user_id, device_id):
                self.store.delete_device(*holder, only_if_token=registration.token)
        # New facts are queued before the device is stored: if they can't be, nothing is
        # stored and the app's retry sends them again (stored first, an unchanged refresh
        # would never send facts whose event was lost).
        if previous is None or _facts(previous) != _facts(device):
            self._queue_facts(user_id, self._facts_event(device))
        self.store.put_device(device)
        events = []
        if previous is not None and previous.push_enabled and not device.push_enabled:
            # the OS permission was revoked, as the app reports it: an opt-out for analytics
            events.append(
                IncomingEvent(
                    event_id=f"optout.permission.{_short_hash(device_id)}.{now}",
                    name=OPT_OUT_EVENT,
                    timestamp=datetime.fromtimestamp(now, tz=UTC),
                    properties={"kind": "permission", "device_id": device_id},
                )
            )
        if events:
            self._publish(user_id, events, "permission change")
        return device

    def _facts_event(self, device: Device) -> IncomingEvent:
        """Platform, app version, locale, zone and country reach the profile as an event."""
        facts = {k: v for k, v in _facts(device).items() if v is not None}
        return IncomingEvent(
            event_id=f"device.{_short_hash(device.device_id)}.{device.updated_at}",
            name=ATTRIBUTES_EVENT,
            timestamp=datetime.fromtimestamp(device.updated_at, tz=UTC),
            properties=facts,
        )

    def _queue(self, user_id: str, events: list[IncomingEvent]) -> bool:
        """Queue events for the profile; False if the queue refused them."""
        if self.events is None:
            return True
        batch = QueuedBatch(user_id=user_id, received_at=self.clock.now(), events=events)
        return not self.events.publish([batch])

    def _queue_facts(self, user_id: str, event: IncomingEvent) -> None:
        if not self._queue(user_id, [event]):
            raise EventsUnavailable("the device's facts could not be queued; retry shortly")

    def _publish(self, user_id: str, events: list[IncomingEvent], what: str) -> None:
        """Best effort: the change itself has succeeded (a lost opt-out is only
        missing from the analytics)."""
        try:
            queued = self._queue(user_id, events)
        except Exception:  # the queue is down: the change is made all the same
            queued = False
        if not queued:
            logger.warning("events not queued", what=what)

    def unregister(self, user_id: str, device_id: str) -> bool:
        return self.store.delete_device(user_id, device_id)

    def devices(self, user_id: str) -> list[dict[str, Any]]:
        now = to_epoch(self.clock.now())
        return [device.public() for device in self.store.devices(user_id, now)]

    def preferences(self, user_id: str) -> dict[str, Any]:
        view = effective(self.store.preferences(user_id), self.config.consent)
        return view.model_dump(mode="json")

    def consents_to(self, user_id: str, category: Category) -> bool:
        """The user's effective choice for one category (defaults filled in)."""
        view = effective(self.store.preferences(user_id), self.config.consent)
        return bool(view.categories.get(category, False))

    def update_preferences(
        self, user_id: str, update: PreferencesUpdate, source: str = "app"
    ) -> dict[str, Any]:
        now = to_epoch(self.clock.now())
        for attempt in range(MAX_WRITE_ATTEMPTS):
            pause_before_retry(attempt)
            previous = self.store.preferences(user_id)
            current = previous or Preferences(user_id=user_id)
            changed = current.model_copy(deep=True)
            if update.categories is not None:
                changed.categories = {**changed.categories, **update.categories}
            if "quiet_hours" in update.model_fields_set:
                changed.quiet_hours = update.quiet_hours
                changed.quiet_hours_set = True
            if "timezone" in update.model_fields_set:
                changed.timezone = update.timezone
            changed.version = current.version + 1
            changed.updated_at = now
            changes = consent_changes(
                effective(previous, self.config.consent),
                effective(changed, self.config.consent),
                now,
                source,
                changed.version,
            )
            for change in changes:  # the evidence travels in the same write as the choice
                changed.consents[change.category] = ConsentRecord(
                    granted=change.granted, at=now, source=source
                )
            if self.store.save_preferences(changed, previous):
                break
        else:
            raise PreferencesBusy("preferences kept changing; retry")
        keep_until = now + self.config.consent_retention_days * DAY
        for change in changes:  # the full trail: keyed by version, so a retry rewrites it
            self.history.put_consent(user_id, change, keep_until)
        opt_outs = [
            IncomingEvent(
                event_id=f"optout.category.{changed.version}.{change.category}",
                name=OPT_OUT_EVENT,
                timestamp=datetime.fromtimestamp(now, tz=UTC),
                properties={"kind": "category", "category": change.category, "source": source},
            )
            for change in changes
            if change.previous and not change.granted and change.category in MESSAGE_CATEGORIES
        ]
        if opt_outs:
            self._publish(user_id, opt_outs, "category opt-out")
        return effective(changed, self.config.consent).model_dump(mode="json")
