"""Consent and quiet hours as pure functions: what a user has agreed to, and when to stay quiet."""

from __future__ import annotations

from datetime import time
from functools import lru_cache

from pydantic import BaseModel, ConfigDict

from nudge.domain.config import ConsentDefaults
from nudge.models.device import CATEGORIES, Category, ConsentChange, Preferences, QuietHours


class EffectivePreferences(BaseModel):
    """Stored choices with the app's defaults filled in: what delivery obeys."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    categories: dict[Category, bool]
    quiet_hours: QuietHours | None
    timezone: str | None


def default_categories(defaults: ConsentDefaults) -> dict[Category, bool]:
    return {
        "transactional": True,  # needs no opt-in, but a hard opt-out is respected
        "marketing": defaults.mode == "opt_out",
        "product_updates": defaults.product_updates,
        "internal": defaults.internal,
        # geofence tracking follows the consent mode, like marketing: off until granted
        "location": defaults.mode == "opt_out",
    }


@lru_cache(maxsize=8)
def _default_quiet_hours(start: str | None, end: str | None) -> QuietHours | None:
    if not (start and end):
        return None
    return QuietHours(start=time.fromisoformat(start), end=time.fromisoformat(end))


def effective(prefs: Preferences | None, defaults: ConsentDefaults) -> EffectivePreferences:
    categories = default_categories(defaults)
    quiet = _default_quiet_hours(defaults.quiet_hours_start, defaults.quiet_hours_end)
    timezone = None
    if prefs is not None:
        categories.update(prefs.categories)
        if prefs.quiet_hours_set:
            quiet = prefs.quiet_hours
        timezone = prefs.timezone
    # every part is validated already (stored preferences, app defaults): read for every
    # campaign decision, so not validated a second time
    return EffectivePreferences.model_construct(
        categories=categories, quiet_hours=quiet, timezone=timezone
    )


def consent_changes(
    before: EffectivePreferences,
    after: EffectivePreferences,
    at: int,
    source: str,
    version: int = 0,
) -> list[ConsentChange]:
    return [
        ConsentChange(
            category=category,
            granted=after.categories[category],
            previous=before.categories[category],
            at=at,
            source=source,
            version=version,
        )
        for category in CATEGORIES
        if before.categories[category] != after.categories[category]
    ]
