"""Fakes of the scheduler's fan-out ports: done marks over the in-memory profiles, and a
shards queue that keeps what was sent (at-least-once delivery is the test's to play)."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from nudge.models.scheduler import DueShard
from tests.fakes.memory import InMemoryProfileStore


class InMemoryDueBuckets:
    def __init__(self, profiles: InMemoryProfileStore) -> None:
        self.profiles = profiles
        self.marks: dict[str, int] = {}  # DueShard.key -> expires_at
        self._lock = threading.Lock()

    def count(self, bucket: str, up_to: int) -> int:
        return len(self.profiles.due_users(bucket))

    def done(self, keys: Sequence[str]) -> set[str]:
        with self._lock:
            return {key for key in keys if key in self.marks}

    def mark_done(self, key: str, expires_at: int) -> None:
        with self._lock:
            self.marks[key] = expires_at


class InMemoryShardQueue:
    def __init__(self) -> None:
        self.messages: list[DueShard] = []  # in the order sent
        self._lock = threading.Lock()

    def send(self, shards: Sequence[DueShard]) -> None:
        with self._lock:
            self.messages.extend(shards)

    def take_all(self) -> list[DueShard]:
        with self._lock:
            taken, self.messages = self.messages, []
            return taken
