"""Campaign rules that need no profile: a campaign's own checks, the holdout and variant
buckets (stable per user), job ids and the message template of a variant."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from nudge.clock import DAY
from nudge.models.campaign import Campaign
from nudge.models.profile import Attribute
from nudge.models.segment import NamedSegments
from nudge.models.template import MessageTemplate, MessageText
from nudge.templating import TemplateError, compile_template

WEEK = 7 * DAY
TEMPLATE_NAMES = frozenset({"user", "event", "campaign", "fence", "station"})


# --- validation beyond the schema ------------------------------------------------------------


def check_campaign(
    campaign: Campaign,
    segments: NamedSegments | None,
    catalog: frozenset[str] | None = None,
) -> list[str]:
    """Problems the schema cannot see, as 'field: message'."""
    problems = []
    known = set(segments.segments) if segments else set()
    for name in sorted(campaign.audience.segment_names() - known):
        problems.append(f"audience: unknown segment {name!r}")
    if catalog:
        for name in sorted(campaign.event_names() - catalog):
            problems.append(f"event {name!r} is not in the app's event catalog")
    for name in sorted(campaign.template_variables() - TEMPLATE_NAMES):
        allowed = ", ".join(sorted(TEMPLATE_NAMES))
        problems.append(f"variants: unknown template variable {name!r} (use one of: {allowed})")
    texts = [
        (f"variants.{i}", v.title, v.body, v.deep_link) for i, v in enumerate(campaign.variants)
    ]
    for locale, overrides in campaign.localization.items():
        for vid, text in overrides.variants.items():
            texts.append((f"localization.{locale}.{vid}", text.title, text.body, text.deep_link))
    for where, *sources in texts:
        for source in sources:
            if source:
                try:
                    compile_template(source)
                except TemplateError as error:
                    problems.append(f"{where}: {error}")
    fence = campaign.trigger.geofence
    if fence is not None and fence.on == "dwell" and fence.dwell_minutes is None:
        problems.append("trigger.geofence.dwell_minutes: needed when on: dwell")
    return problems


# --- deterministic assignment ---------------------------------------------------------------


@lru_cache(maxsize=65_536)  # the same users meet the same campaigns event after event
def _bucket(*parts: str, size: int = 10_000) -> int:
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return int.from_bytes(digest[:8]) % size


COHORTS = 100  # Pinpoint's CohortId: 0-99, about 1% of the users each


def cohort_of(campaign: Campaign, attributes: Mapping[str, Attribute] | None) -> int | None:
    """The user's cohort when the campaign buckets by one and the user has a valid one."""
    if campaign.cohort_attribute is None or not attributes:
        return None
    found = attributes.get(campaign.cohort_attribute)
    value = str(found.value).strip() if found is not None else ""
    return int(value) if value.isdigit() and int(value) < COHORTS else None


def in_holdout(
    campaign: Campaign, user_id: str, attributes: Mapping[str, Attribute] | None = None
) -> bool:
    """Stable across versions: depends only on the campaign id and the user (or the user's
    cohort: the lowest `holdout_pct` cohorts, whole percents, are held out)."""
    cohort = cohort_of(campaign, attributes)
    if cohort is not None:
        return cohort < round(campaign.holdout_pct)
    return _bucket("holdout", campaign.id, user_id) < round(campaign.holdout_pct * 100)


def pick_variant(
    campaign: Campaign, user_id: str, attributes: Mapping[str, Attribute] | None = None
) -> str:
    """The user's variant: their stable weighted bucket (or cohort: the cohorts after the
    holdout's, shared out by weight in order), or the winner auto_promote moved all traffic
    to (read with the campaign from the catalog, so every Lambda picks the same)."""
    promoted = campaign.promoted_variant
    if promoted is not None:
        return promoted
    total = sum(variant.weight for variant in campaign.variants)
    cohort = cohort_of(campaign, attributes)
    if cohort is not None:
        held = min(round(campaign.holdout_pct), COHORTS - 1)
        point = max(0, cohort - held) * total // (COHORTS - held)
    else:
        point = _bucket("variant", campaign.id, user_id, size=total)
    for variant in campaign.variants:
        if point < variant.weight:
            return variant.id
        point -= variant.weight
    raise AssertionError("weights sum to total")  # pragma: no cover


def campaign_job_id(user_id: str, campaign_id: str, occurrence: str) -> tuple[str, str]:
    """(job id, dedupe key) of one campaign send: the app names the job id in its events."""
    key = f"c:{campaign_id}:{occurrence}"
    digest = hashlib.blake2b(f"{user_id}|{key}".encode(), digest_size=12).hexdigest()
    return f"cmp-{digest}", key


def campaign_template(campaign: Campaign, variant_id: str) -> MessageTemplate:
    """The variant as a message template: default text plus each locale's overrides.

    TemplateError if a text is refused (a config published before the template allow-list)."""
    from pydantic import ValidationError

    variant = next(v for v in campaign.variants if v.id == variant_id)
    base = variant.model_dump(include={"title", "body", "image", "deep_link"})
    text = {campaign.default_locale: base}
    for locale, overrides in campaign.localization.items():
        override = overrides.variants.get(variant_id)
        if override is not None:
            text[locale] = base | override.model_dump(exclude_none=True)
    checked: dict[str, MessageText] = {}
    for locale, fields in text.items():
        try:
            checked[locale] = MessageText.model_validate(fields)
        except ValidationError as error:
            first = error.errors()[0]
            where = f"text.{locale}." + ".".join(map(str, first["loc"]))
            raise TemplateError(
                f"campaign {campaign.id!r} variant {variant_id!r}: {where}: {first['msg']}"
            ) from error
    return MessageTemplate(
        id=f"{campaign.id}.{variant_id}",
        category=campaign.category,
        default_locale=campaign.default_locale,
        text=checked,
        respect_quiet_hours=campaign.delivery.respect_quiet_hours,
    )


# --- candidates -----------------------------------------------------------------------------


def _flat(data: Mapping[str, Any]) -> dict[str, Any]:
    """Template data kept in the outbox: the trigger event's scalar properties (and the
    fence's id, name and set as `fence.*` for geofence triggers)."""
    event = data.get("event")
    flat = dict(event) if isinstance(event, dict) else {}
    fence = data.get("fence")
    if isinstance(fence, dict):
        flat.update({f"fence.{key}": value for key, value in fence.items()})
    return flat


def template_data(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of `_flat`: {'event': {...}, 'fence': {...}, 'station': {...}}."""
    event = {k: v for k, v in flat.items() if not k.startswith("fence.")}
    fence = {k.removeprefix("fence."): v for k, v in flat.items() if k.startswith("fence.")}
    data: dict[str, Any] = {"event": event}
    if fence:
        data["fence"] = data["station"] = fence
    return data


# --- conversions, bookkeeping, due time -----------------------------------------------------
