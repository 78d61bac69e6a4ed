"""In-memory fakes of broadcasts ports (tests only, never in the Lambda layer)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime

from nudge.models.broadcast import Broadcast, BroadcastStep, ZoneHints


class InMemoryBroadcasts:
    """Store, step queue, job queue and audience in one fake."""

    def __init__(
        self, users: list[str] | None = None, zones: dict[str, ZoneHints] | None = None
    ) -> None:
        self.broadcasts: dict[str, Broadcast] = {}
        self.scheduled: list[tuple[BroadcastStep, int]] = []
        self.jobs: list[str] = []
        self.users = users or []
        self.zones = zones or {}  # what the devices table knows of a user's zone
        self._lock = threading.Lock()
        self._erasures: dict[str, int] = {}  # per broadcast, as the `erasures` attribute
        self._erasures_read: dict[str, int] = {}  # its count at this fake's last read

    def create(self, broadcast: Broadcast) -> None:
        with self._lock:
            self.broadcasts.setdefault(broadcast.broadcast_id, broadcast)

    def get(self, broadcast_id: str) -> Broadcast | None:
        with self._lock:
            self._erasures_read[broadcast_id] = self._erasures.get(broadcast_id, 0)
            return self.broadcasts.get(broadcast_id)

    def status(self, broadcast_id: str) -> str | None:
        with self._lock:
            stored = self.broadcasts.get(broadcast_id)
            return stored.status if stored else None

    def advance(self, broadcast: Broadcast, from_step: int) -> bool:
        with self._lock:
            stored = self.broadcasts.get(broadcast.broadcast_id)
            # as the conditional put: refused unless still running at that step, with no
            # erasure since this fake's last read
            erasures = self._erasures.get(broadcast.broadcast_id, 0)
            if stored is None or stored.step != from_step or stored.status != "running":
                return False
            if self._erasures_read.get(broadcast.broadcast_id, 0) != erasures:
                return False
            self.broadcasts[broadcast.broadcast_id] = broadcast.kept()  # as stored
            return True

    def listing(self, user_id: str) -> list[Broadcast]:
        with self._lock:
            return [b for _, b in sorted(self.broadcasts.items()) if _names(b, user_id)]

    def erase_user(self, user_id: str, now: datetime) -> int:
        with self._lock:
            named = [b for b in self.broadcasts.values() if _names(b, user_id)]
            for broadcast in named:
                self.broadcasts[broadcast.broadcast_id] = broadcast.without_user(user_id, now)
                erasures = self._erasures.get(broadcast.broadcast_id, 0) + 1
                self._erasures[broadcast.broadcast_id] = erasures
            return len(named)

    def schedule(self, step: BroadcastStep, delay_s: int) -> None:
        self.scheduled.append((step, delay_s))

    def enqueue_many(self, bodies: list[str]) -> None:
        self.jobs.extend(bodies)

    def users_with_devices(self, cursor: str | None, limit: int) -> tuple[list[str], str | None]:
        start = int(cursor or 0)
        chosen = self.users[start : start + limit]
        end = start + len(chosen)
        return chosen, str(end) if end < len(self.users) else None

    def users_with_zones(
        self, cursor: str | None, limit: int
    ) -> tuple[dict[str, ZoneHints], str | None]:
        users, cursor = self.users_with_devices(cursor, limit)
        return {user: self.zones.get(user, ZoneHints()) for user in users}, cursor

    def zone_hints(self, user_ids: Sequence[str]) -> dict[str, ZoneHints]:
        return {user: self.zones[user] for user in user_ids if user in self.zones}


def _names(broadcast: Broadcast, user_id: str) -> bool:
    """As the adapter's sparse index: only running lists are looked at."""
    return broadcast.status == "running" and broadcast.lists(user_id)
