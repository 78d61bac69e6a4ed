"""Consent and quiet hours as pure functions: what a user has agreed to, and when to stay quiet."""

from __future__ import annotations

from datetime import time

from pydantic import BaseModel, ConfigDict

from nudge.domain.config import ConsentDefaults
from nudge.models.device import CATEGORIES, Category, ConsentChange, Preferences, QuietHours


class EffectivePreferences(BaseModel):
    """Stored choices with the app's defaults filled in: what delivery obeys."""

    model_config = ConfigDict(frozen=True)

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


def effective(prefs: Preferences | None, defaults: ConsentDefaults) -> EffectivePreferences:
    categories = default_categories(defaults)
    quiet: QuietHours | None = None
    if defaults.quiet_hours_start and defaults.quiet_hours_end:
        quiet = QuietHours(
            start=time.fromisoformat(defaults.quiet_hours_start),
            end=time.fromisoformat(defaults.quiet_hours_end),
        )
    timezone = None
    if prefs is not None:
        categories.update(prefs.categories)
        if prefs.quiet_hours_set:
            quiet = prefs.quiet_hours
        timezone = prefs.timezone
    return EffectivePreferences(categories=categories, quiet_hours=quiet, timezone=timezone)


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
