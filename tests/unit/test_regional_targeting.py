"""Segment conditions on the regional response model: `predicted_response`, `top_regions`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from nudge.domain.engagement.regional_model import fit_categories, published, view_of
from nudge.domain.profiles.segments import explain, matches
from nudge.models.profile import Attribute, Profile
from nudge.models.response_model import RegionalView
from nudge.models.segment import Segment

NOW = 1_780_000_000
HALF_LIFE = 14.0


def user(country: str | None = None, locale: str | None = None) -> Profile:
    attributes = {}
    if country:
        attributes["country"] = Attribute(value=country, at=NOW)
    if locale:
        attributes["locale"] = Attribute(value=locale, at=NOW)
    return Profile(user_id="u", attributes=attributes)


def breakdown(rates: dict[str, tuple[int, int]]) -> dict[tuple[str, str], Counter[str]]:
    """Breakdown cells as the counters give them: country -> converted of sent."""
    return {
        ("country", c): Counter(sent=n, converted=k, opened=2 * k) for c, (k, n) in rates.items()
    }


MODEL = published(
    fit_categories(
        {
            "marketing": breakdown(
                {
                    "NL": (1_200, 10_000),  # 12 %
                    "BE": (600, 10_000),  # 6 %
                    "DE": (800, 10_000),  # 8 %
                    "FR": (790, 10_000),
                    "LU": (6, 12),  # lucky: 50 % of a dozen
                }
            )
            | {("country", "unknown"): Counter(sent=5_000, converted=5_000)}
        },
        "country",
    ),
    "country",
    "2026-05-01",
    "2026-05-30",
    NOW,
)
VIEW = view_of(MODEL)


def why(rule: Mapping[str, Any], profile: Profile, view: RegionalView | None = VIEW) -> str | None:
    segment = Segment.model_validate(rule)
    return explain(segment, profile, NOW, {}, half_life_days=HALF_LIFE, response=view)


def test_predicted_response_at_least_names_the_region_and_its_prediction() -> None:
    rule = {
        "predicted_response": {"category": "marketing", "metric": "conversion", "at_least": 0.08}
    }
    assert why(rule, user("NL")) is None
    reason = why(rule, user("BE"))
    assert reason is not None and reason.startswith("BE predicted marketing conversion 6.")
    assert "needs at least 8%" in reason
    # the locale's country when no country attribute: the breakdown's own rule
    assert why(rule, user(locale="nl-NL")) is None
    assert "unknown" in (why(rule, user()) or "")  # no region: fails closed, saying why


def test_unknown_users_are_not_a_region_and_a_region_without_sends_gets_the_overall_rate() -> None:
    predictions = MODEL.predictions("marketing", "conversion")
    assert predictions is not None and "unknown" not in predictions.regions
    assert predictions.predicted("PT") == predictions.overall
    assert predictions.overall == pytest.approx(3_396 / 40_012, abs=1e-6)


def test_top_regions_is_the_best_share_by_prediction_and_a_lucky_dozen_is_not_best() -> None:
    rule = {"top_regions": {"category": "marketing", "metric": "conversion", "share": "20%"}}
    assert why(rule, user("NL")) is None
    lucky = why(rule, user("LU"))
    assert lucky is not None and "LU predicted marketing conversion" in lucky
    assert "not in the top 20%" in lucky
    assert "not ranked" in (why(rule, user("PT")) or "")
    wider = {"top_regions": {"category": "marketing", "share": 0.6}}  # metric: conversion
    assert [c for c in ("NL", "DE", "FR", "BE") if why(wider, user(c)) is None] == [
        "NL",
        "DE",
        "FR",
    ]


def test_without_a_model_the_conditions_fail_closed_with_a_reason() -> None:
    rule = {"top_regions": {"category": "marketing", "share": 0.5}}
    assert why(rule, user("NL"), None) == "no regional response model published yet"
    assert not matches(Segment.model_validate(rule), user("NL"), NOW, {}, half_life_days=HALF_LIFE)
    other = {"predicted_response": {"category": "product_updates", "at_least": 0.01}}
    assert why(other, user("NL")) == "the regional model has no product_updates conversion data yet"
    # nested: the view reaches conditions under all / any / not
    nested = {"not": {"top_regions": {"category": "marketing", "share": 0.2}}}
    assert why(nested, user("BE")) is None
    assert why(nested, user("NL")) == "matches the 'not' condition"


def test_bad_conditions_are_rejected_naming_the_field() -> None:
    with pytest.raises(ValidationError, match="predicted_response"):
        Segment.model_validate({"predicted_response": {"category": "marketing"}})
    with pytest.raises(ValidationError, match=r"top_regions\.share"):
        Segment.model_validate({"top_regions": {"category": "marketing", "share": "lots%"}})
    with pytest.raises(ValidationError, match=r"top_regions\.share"):
        Segment.model_validate({"top_regions": {"category": "marketing", "share": 0}})
    with pytest.raises(ValidationError, match="metric"):
        Segment.model_validate(
            {"top_regions": {"category": "marketing", "metric": "x", "share": 1}}
        )
