"""In-memory fakes of devices ports (tests only, never in the Lambda layer)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from nudge.adapters.devices import DEVICE_TTL
from nudge.models.device import Device, Preferences


class InMemoryDeviceStore:
    def __init__(self) -> None:
        self.devices_by_key: dict[tuple[str, str], Device] = {}
        self.prefs: dict[str, Preferences] = {}
        self._lock = threading.Lock()

    def put_device(self, device: Device) -> bool:
        with self._lock:
            current = self.devices_by_key.get((device.user_id, device.device_id))
            if current is not None and current.updated_at > device.updated_at:
                return False
            self.devices_by_key[(device.user_id, device.device_id)] = device
            return True

    def devices(self, user_id: str, now: int | None = None) -> list[Device]:
        with self._lock:
            return [
                d
                for (u, _), d in sorted(self.devices_by_key.items())
                if u == user_id and (now is None or d.updated_at + DEVICE_TTL > now)
            ]

    def partitions(
        self, user_ids: Sequence[str], now: int | None = None
    ) -> dict[str, tuple[list[Device], Preferences | None]]:
        return {u: (self.devices(u, now), self.preferences(u)) for u in set(user_ids)}

    def delete_device(self, user_id: str, device_id: str, only_if_token: str | None = None) -> bool:
        with self._lock:
            current = self.devices_by_key.get((user_id, device_id))
            if current is None or (only_if_token is not None and current.token != only_if_token):
                return False
            del self.devices_by_key[(user_id, device_id)]
            return True

    def holders_of(self, token: str) -> list[tuple[str, str]]:
        with self._lock:
            return [k for k, d in self.devices_by_key.items() if d.token == token]

    def preferences(self, user_id: str) -> Preferences | None:
        with self._lock:
            stored = self.prefs.get(user_id)
            return stored.model_copy(deep=True) if stored else None

    def preferences_many(self, user_ids: Sequence[str]) -> dict[str, Preferences]:
        with self._lock:
            return {u: self.prefs[u].model_copy(deep=True) for u in user_ids if u in self.prefs}

    def save_preferences(self, prefs: Preferences, previous: Preferences | None) -> bool:
        with self._lock:
            current = self.prefs.get(prefs.user_id)
            if (current.version if current else None) != (previous.version if previous else None):
                return False
            self.prefs[prefs.user_id] = prefs.model_copy(deep=True)
            return True

    def delete_user(self, user_id: str) -> int:
        with self._lock:
            keys = [k for k in self.devices_by_key if k[0] == user_id]
            for key in keys:
                del self.devices_by_key[key]
            had_prefs = self.prefs.pop(user_id, None) is not None
            return len(keys) + had_prefs
