"""A campaign's decision for one user, explained rule by rule, with the message it would send
(nothing is sent or recorded)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nudge.domain.campaigns.decide import Context, decide
from nudge.domain.campaigns.rules import campaign_template, pick_variant
from nudge.domain.campaigns.triggers import Candidate
from nudge.domain.config import CategoryCaps
from nudge.domain.messaging.consent import EffectivePreferences
from nudge.models.campaign import Campaign
from nudge.models.device import Device
from nudge.models.profile import (
    Profile,
)
from nudge.models.response_model import RegionalView
from nudge.models.segment import Segment
from nudge.templating import TemplateError


def preview(
    campaign: Campaign,
    profile: Profile,
    preferences: EffectivePreferences,
    devices: list[Device],
    now: int,
    named: Mapping[str, Segment],
    caps: Mapping[str, CategoryCaps],
    default_zone: str | None,
    event: Mapping[str, Any] | None = None,
    *,
    interest_half_life_days: float,
    response: RegionalView | None = None,
) -> dict[str, Any]:
    """The decision for one user right now, every rule with its reason, and the message."""
    from nudge.domain.messaging.delivery_time import UNKNOWN_ZONE, user_zone
    from nudge.domain.messaging.templates import render

    # the order campaigns and push_sender use (services/messaging/timezones), over what the
    # route read already
    zone, zone_source = user_zone(
        preferences.timezone, lambda: devices, lambda: profile, default_zone
    )
    shown_zone = f"{zone} ({zone_source})"
    if zone is None:
        shown_zone = (
            f"{UNKNOWN_ZONE} (no preference, device, locale or location names one and no app"
            " default is set: local-time rules withhold marketing)"
        )
    quiet = preferences.quiet_hours
    ctx = Context(
        now=now,
        zone=zone,
        named=named,
        caps=caps,
        consent=lambda: dict(preferences.categories),
        interest_half_life_days=interest_half_life_days,
        quiet_hours=lambda: (quiet.start, quiet.end) if quiet else None,
        response=response,
    )
    decision = decide(
        Candidate(campaign, "preview", now, {"event": dict(event or {})}), profile, ctx
    )
    variant = decision.variant if decision.variant not in (None, "holdout") else None
    variant = variant or pick_variant(campaign, profile.user_id, profile.attributes)
    locale = next((d.locale for d in devices if d.locale), None) or _attribute(profile, "locale")
    data = {
        "user": {name: a.value for name, a in profile.attributes.items()},
        "event": dict(event or {}),
        "campaign": {"id": campaign.id, "name": campaign.name},
    }
    message: dict[str, Any]
    try:
        rendered = render(campaign_template(campaign, variant), locale, data)
        message = rendered.model_dump(exclude_none=True)
    except TemplateError as error:
        message = {"error": str(error)}
    return {
        "campaign": campaign.id,
        "user_id": profile.user_id,
        "verdict": decision.outcome,
        "variant": decision.variant or variant,
        "zone": shown_zone,
        "rules": [
            {"rule": rule.name, "passed": rule.passed, "detail": rule.detail}
            for rule in decision.rules
        ],
        "message": message,
        "devices": sum(1 for d in devices if d.push_enabled),
    }


def _attribute(profile: Profile, name: str) -> str | None:
    attribute = profile.attributes.get(name)
    return str(attribute.value) if attribute is not None else None
