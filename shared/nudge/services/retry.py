"""Backoff between optimistic-concurrency retries (jittered, so contenders spread out)."""

from __future__ import annotations

import random
import time

MAX_WRITE_ATTEMPTS = 6


def pause_before_retry(attempt: int) -> None:
    """Sleep up to 10 ms, 20 ms, 40 ms... (full jitter) before attempt `attempt + 1`."""
    if attempt > 0:
        time.sleep(random.uniform(0, 0.01 * 2 ** (attempt - 1)))
