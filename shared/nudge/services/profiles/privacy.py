"""GET /v1/me and DELETE /v1/me: everything stored about the caller, and its erasure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nudge.clock import Clock, to_epoch
from nudge.domain.config import EngagementConfig
from nudge.domain.profiles.aggregates import sessions, top_interests
from nudge.models.profile import Profile
from nudge.models.stats import StageChange
from nudge.services.ports import DeviceStore, HistoryStore, ProfileStore, SurveyStore
from nudge.services.retry import MAX_WRITE_ATTEMPTS, pause_before_retry

HISTORY_PAGE = 1000  # keeps a response far below Lambda's 6 MB payload limit


@dataclass
class PrivacyService:
    profiles: ProfileStore
    history: HistoryStore
    config: EngagementConfig
    clock: Clock
    devices: DeviceStore | None = None
    surveys: SurveyStore | None = None  # NPS: the user's prompts, survey states and answers

    def export(
        self, user_id: str, history_after: str | None = None, page_size: int = HISTORY_PAGE
    ) -> dict[str, Any]:
        """The profile and one page of history; `history_next` continues it (None: complete)."""
        profile = self.profiles.get(user_id)
        now = to_epoch(self.clock.now())
        summary = None
        if profile is not None and profile.first_seen is not None:
            summary = {
                "stage": profile.stage,
                "sessions": sessions(profile, self.config),
                "top_interests": [
                    {"interest": name, "score": round(score, 3)}
                    for name, score in top_interests(profile, now, self.config)
                ],
            }
            stored: dict[str, Any] | None = profile.model_dump(
                mode="json", exclude={"recent", "version", "erased_at"}
            )
        else:
            stored = None
        history, history_next = self.history.list_user_page(user_id, page_size, history_after)
        devices: list[dict[str, Any]] = []
        preferences = None
        if self.devices is not None:
            devices = [d.public() for d in self.devices.devices(user_id)]
            stored_prefs = self.devices.preferences(user_id)
            preferences = stored_prefs.model_dump(mode="json") if stored_prefs else None
        return {
            "user_id": user_id,
            "profile": stored,
            "devices": devices,
            "preferences": preferences,
            "summary": summary,
            "surveys": self._surveys(user_id),
            "history": history,
            "history_next": history_next,
        }

    def _surveys(self, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """Survey states (prompts shown, pending, answered or dismissed when) and every answer
        with its comments: the same items DELETE /v1/me erases."""
        if self.surveys is None:
            return {"states": [], "responses": []}
        stored = self.surveys.user_surveys(user_id).states
        states = [
            stored[survey].state.model_dump(
                mode="json", exclude={"user_id", "last_prompt_any_survey_at"}
            )
            for survey in sorted(stored)
        ]
        responses = [
            {
                **answer.model_dump(
                    mode="json",
                    exclude={"user_id", "score_set", "reason_set", "follow_up_set", "parts"},
                ),
                "answered_at": answer.answered_at,
            }
            for answer in self.surveys.user_responses(user_id)
        ]
        return {"states": states, "responses": responses}

    def erase(self, user_id: str) -> dict[str, int | bool]:
        """Delete the profile and history; leave a tombstone so queued events don't revive it.

        Also the user's devices and every SurveysTable item of theirs (survey states with
        pending prompts, the last-prompt record, merged responses with their comments). The
        NPS day counters stay: they are anonymous counts per survey, day and segment value,
        not linked to the user (so a report keeps counting an erased user's past score).
        """
        now = to_epoch(self.clock.now())
        removed_profile = False
        for attempt in range(MAX_WRITE_ATTEMPTS):
            pause_before_retry(attempt)
            previous = self.profiles.get(user_id)
            removed_profile = previous is not None and previous.first_seen is not None
            tombstone = Profile(
                user_id=user_id,
                version=(previous.version + 1) if previous else 1,
                erased_at=now,
            )
            leaving = previous.stage if previous is not None else None
            change = StageChange(leaving, None, now) if leaving is not None else None
            if self.profiles.save(tombstone, previous, self.config.due_shards, change):
                break
        else:
            raise RuntimeError("could not erase: profile kept changing")
        removed_history = self.history.delete_user(user_id)
        removed_devices = self.devices.delete_user(user_id) if self.devices is not None else 0
        removed_surveys = self.surveys.delete_user(user_id) if self.surveys is not None else 0
        return {
            "profile_erased": removed_profile,
            "history_records_erased": removed_history,
            "device_records_erased": removed_devices,
            "survey_records_erased": removed_surveys,
        }
