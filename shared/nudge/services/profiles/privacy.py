"""GET /v1/me and DELETE /v1/me: everything stored about the caller, and its erasure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nudge.clock import Clock, to_epoch
from nudge.domain.config import EngagementConfig
from nudge.domain.profiles.aggregates import sessions, top_interests
from nudge.models.profile import Profile
from nudge.models.stats import StageChange
from nudge.services.ports import (
    BroadcastTargets,
    DeliveryLog,
    DeviceStore,
    HistoryStore,
    ProfileStore,
    SurveyStore,
)
from nudge.services.ratelimit import RateLimiter
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
    deliveries: DeliveryLog | None = None  # each push's outcome, device, template, opens
    broadcasts: BroadcastTargets | None = None  # running broadcasts that list the user
    rate_limits: RateLimiter | None = None  # the request counters keyed by the user id

    def export(
        self, user_id: str, history_after: str | None = None, page_size: int = HISTORY_PAGE
    ) -> dict[str, Any]:
        """The profile and one page of history; `history_next` continues it (None: complete)."""
        profile = self.profiles.get(user_id)
        now = to_epoch(self.clock.now())
        summary = None
        # a profile with no activity is an erasure tombstone, unless it was never erased
        # (imported data, e.g. from Pinpoint, before the user's first event): that is shown
        if profile is not None and (profile.first_seen is not None or profile.erased_at is None):
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
            **self._messages(user_id),
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

    def _messages(self, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """The delivery log's records (30 days), and the broadcasts that reached the user
        (named by those records) or still list them (running ones): what erasure removes."""
        records = self.deliveries.for_user(user_id) if self.deliveries is not None else []
        records.sort(key=lambda d: (d.at, d.job_id, d.device_id or ""))
        deliveries = [d.model_dump(mode="json", exclude={"user_id"}) for d in records]
        if self.broadcasts is None:
            return {"deliveries": deliveries, "broadcasts": []}
        listing = {b.broadcast_id: b for b in self.broadcasts.listing(user_id)}
        found = {**listing}
        for source in sorted({d.source or "" for d in records}):
            kind, _, broadcast_id = source.partition(":")
            stored = None
            if kind == "broadcast" and broadcast_id not in found:
                stored = self.broadcasts.get(broadcast_id)
            if stored is not None:
                found[broadcast_id] = stored
        broadcasts = [
            {  # never its list: that names other users
                "broadcast_id": b.broadcast_id,
                "status": b.status,
                "template_id": b.template.id,
                "category": b.template.category,
                "created_at": b.created_at.isoformat(),
                "finished_at": b.finished_at.isoformat() if b.finished_at else None,
                "lists_user": b.broadcast_id in listing,
            }
            for b in sorted(found.values(), key=lambda b: (b.created_at, b.broadcast_id))
        ]
        return {"deliveries": deliveries, "broadcasts": broadcasts}

    def erase(self, user_id: str) -> dict[str, int | bool]:
        """Delete the profile and history; leave a tombstone so queued events don't revive it.

        Also the user's devices and every SurveysTable item of theirs (survey states with
        pending prompts, the last-prompt record, merged responses with their comments), their
        delivery log records, and their id in the lists of broadcasts still running (a
        finished broadcast keeps none), and their rate-limit request counters (one a scope). The
        NPS day counters and the campaign, broadcast and stage counters stay: anonymous counts
        not linked to the user (so a report keeps counting an erased user's past score or push).
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
        # the lists first: a running broadcast sends them nothing more
        listed_in = self.broadcasts.erase_user(user_id, self.clock.now()) if self.broadcasts else 0
        removed_deliveries = self.deliveries.delete_user(user_id) if self.deliveries else 0
        if self.rate_limits is not None:
            self.rate_limits.forget(user_id)
        return {
            "profile_erased": removed_profile,
            "history_records_erased": removed_history,
            "device_records_erased": removed_devices,
            "survey_records_erased": removed_surveys,
            "delivery_records_erased": removed_deliveries,
            "broadcasts_erased_from": listed_in,
        }
