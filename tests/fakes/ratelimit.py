"""In-memory fake of the RequestCounter port (tests only, never in the Lambda layer)."""

from __future__ import annotations

import threading
from collections.abc import Sequence


class InMemoryRequestCounter:
    """The same count as DynamoRequestCounter: one counter per (scope, user), `counts` holds
    its (window, count) and `expiry` its TTL, for tests to look at."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], tuple[int, int]] = {}
        self.expiry: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def take(self, scope: str, user_id: str, window: int, limit: int, expires_at: int) -> bool:
        key = (scope, user_id)
        with self._lock:
            counting, count = self.counts.get(key, (window, 0))
            if counting < window:  # a new window starts afresh
                counting, count = window, 0
            # an older window (a clock behind) is counted in the counter's newer one
            if count >= limit:
                return False
            self.counts[key] = (counting, count + 1)
            self.expiry[key] = expires_at
            return True

    def forget(self, user_id: str, scopes: Sequence[str]) -> None:
        with self._lock:
            for scope in scopes:
                self.counts.pop((scope, user_id), None)
                self.expiry.pop((scope, user_id), None)
