"""The BreakdownCounters port over the in-memory profile store's named counters (the cells
ride in them, as in the adapter's transaction)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from nudge.domain.engagement.breakdown import day_number, parse_name, tally
from tests.fakes.memory import InMemoryProfileStore


class InMemoryBreakdownCounters:
    def __init__(self, profiles: InMemoryProfileStore | None = None) -> None:
        self.profiles = profiles or InMemoryProfileStore()

    def cells(
        self, campaign_ids: Sequence[str], start_day: str, end_day: str
    ) -> dict[tuple[str, str], Counter[str]]:
        first, last = day_number(start_day), day_number(end_day)
        wanted = set(campaign_ids)
        stored = []
        for name, fields in list(self.profiles.named_counters.items()):
            parsed = parse_name(name)
            if parsed is not None and parsed[0] in wanted and first <= parsed[1] <= last:
                stored.append((parsed[2], dict(fields)))
        return tally(stored)
