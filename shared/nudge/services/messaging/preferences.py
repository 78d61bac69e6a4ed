"""Preferences read per SQS batch: one read for every user of the batch, shared by readers."""

from __future__ import annotations

from collections.abc import Iterable

from nudge.models.device import Preferences
from nudge.services.ports import DeviceStore


class BatchPreferences:
    """A batch's users' preferences, read together on the first need (one BatchGetItem
    instead of a GetItem per user and per reader) and kept until the next batch."""

    def __init__(self, store: DeviceStore) -> None:
        self.store = store
        self._expected: set[str] = set()
        self._known: dict[str, Preferences | None] = {}

    def expect(self, user_ids: Iterable[str]) -> None:
        """A new batch: forget the last one's, read these users' when one is first needed."""
        self._expected = set(user_ids)
        self._known = {}

    def preferences(self, user_id: str) -> Preferences | None:
        if user_id not in self._known:
            if user_id not in self._expected:
                return self.store.preferences(user_id)
            found = self.store.preferences_many(sorted(self._expected))
            self._known = {user: found.get(user) for user in self._expected}
            self._expected = set()
        return self._known[user_id]
