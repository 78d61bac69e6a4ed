"""Per-user request limits (see domain/ratelimit.py): checked before a request does anything,
so a refused request has queued and stored nothing."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nudge.clock import Clock, to_epoch
from nudge.domain.ratelimit import WINDOW_SECONDS, Window
from nudge.services.ports import RequestCounter


class RateLimited(Exception):
    """Over the caller's limit for this window: answer 429 with Retry-After."""

    def __init__(self, scope: str, limit: int, window_seconds: int, retry_after: int) -> None:
        super().__init__(
            f"too many requests: at most {limit} {scope} requests per user every "
            f"{window_seconds} seconds; retry after {retry_after} s"
        )
        self.scope = scope
        self.limit = limit
        self.retry_after = retry_after


@dataclass
class RateLimiter:
    counter: RequestCounter
    limits: Mapping[str, int]  # scope -> requests per user and window; 0 or absent: unlimited
    clock: Clock
    window_seconds: int = WINDOW_SECONDS

    def check(self, user_id: str, scope: str) -> None:
        """Count this request against the user's limit for `scope`; RateLimited when over."""
        limit = self.limits.get(scope, 0)
        if limit <= 0:
            return
        now = to_epoch(self.clock.now())
        window = Window.at(now, self.window_seconds)
        if not self.counter.take(scope, user_id, window.index, limit, window.counter_expires_at):
            raise RateLimited(scope, limit, window.seconds, window.retry_after(now))

    def forget(self, user_id: str) -> None:
        """Erasure: delete the user's counters (they are keyed by the user id), one per scope
        this limiter knows, a limit of 0 included (a counter from before it was turned off)."""
        self.counter.forget(user_id, sorted(self.limits))
