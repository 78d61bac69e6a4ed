"""Per-user request limits on the mobile API: fixed windows, counted per user and scope.

API Gateway HTTP APIs throttle per route or stage, never per caller, so the limit is the app's:
one counter per (scope, user) holding its window and the count in it, incremented once per
request (not per event: a request carries a batch) and refused once it reaches the limit; a
newer window starts it afresh. One item per user and scope, not per window, so erasure deletes
all of them by key and leaves no expired-but-unswept item behind. A fixed window lets a client
send up to twice the limit across a window edge; that is the price of one write per request.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Window:
    """The fixed window that `at` falls in: [start, start + seconds)."""

    index: int
    seconds: int

    @classmethod
    def at(cls, epoch: int, seconds: int = WINDOW_SECONDS) -> Window:
        if seconds <= 0:
            raise ValueError("a rate-limit window lasts at least one second")
        return cls(epoch // seconds, seconds)

    @property
    def start(self) -> int:
        return self.index * self.seconds

    @property
    def end(self) -> int:
        return self.start + self.seconds

    @property
    def counter_expires_at(self) -> int:
        """The TTL every write in this window gives the counter: of no use once the window
        is over (the next write starts it afresh), kept a window longer for clock skew."""
        return self.end + self.seconds

    def retry_after(self, epoch: int) -> int:
        """Whole seconds until the next window opens (at least 1: Retry-After: 0 invites a
        retry storm)."""
        return max(1, self.end - epoch)
