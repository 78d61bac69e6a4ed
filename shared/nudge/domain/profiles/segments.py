"""Segments: does a profile belong to an audience? Pure, explainable, windows anchored on `now`.

`explain` returns the first failing condition as a sentence a marketer can read, so previews
say *why* someone is out, not just that they are.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from nudge.clock import DAY
from nudge.domain.profiles.aggregates import decayed_interest
from nudge.models.profile import Profile, Stage
from nudge.models.response_model import RegionalPredictions, RegionalView
from nudge.models.segment import (
    AttributeTest,
    Behavior,
    DidNot,
    Interests,
    LocationRule,
    PredictedResponse,
    PropertyTest,
    Purchases,
    Recency,
    Scalar,
    Segment,
    TopRegions,
)

EARTH_RADIUS_KM = 6371.0088


class UnknownSegment(KeyError):
    pass


def matches(
    segment: Segment,
    profile: Profile,
    now: int,
    named: Mapping[str, Segment],
    *,
    half_life_days: float,
    response: RegionalView | None = None,
) -> bool:
    why = explain(segment, profile, now, named, half_life_days=half_life_days, response=response)
    return why is None


def explain(
    segment: Segment,
    profile: Profile,
    now: int,
    named: Mapping[str, Segment],
    *,
    half_life_days: float,
    response: RegionalView | None = None,
) -> str | None:
    """None when the profile is in the segment, else the first reason it is not.

    `half_life_days`: `EngagementConfig.interest_half_life_days`, the decay the stored interest
    scores were folded with (required: a segment must read interests as ingest wrote them).
    `response`: the published regional response model, for `predicted_response` and
    `top_regions` (without one those conditions fail closed, saying so).
    """
    for check in _checks(segment, half_life_days, response):
        if why := check(profile, now, named):
            return why
    return None


Check = Callable[[Profile, int, Mapping[str, Segment]], "str | None"]
_COMPILED: dict[tuple[int, float, int], tuple[Segment, RegionalView | None, list[Check]]] = {}


def _checks(
    segment: Segment, half_life_days: float, response: RegionalView | None = None
) -> list[Check]:
    """The segment's conditions as a list of checks, in the order `explain` reports them.

    Compiled once per segment object (campaign sets are published rarely, audiences are
    evaluated for every candidate send), so unset conditions cost nothing.
    """
    key = (id(segment), half_life_days, id(response))
    cached = _COMPILED.get(key)
    if cached is not None and cached[0] is segment and cached[1] is response:
        return cached[2]
    checks: list[Check] = []
    if (name := segment.segment) is not None:
        checks.append(partial(_named, name, half_life_days, response))
    if (stages := segment.lifecycle) is not None:
        checks.append(partial(_lifecycle, stages))
    behaviors = segment.behavior if isinstance(segment.behavior, list) else [segment.behavior]
    rules: list[tuple[object, Callable[..., str | None]]] = [(b, _behavior) for b in behaviors]
    rules += [
        (segment.recency, _recency),
        (segment.did_not, _did_not),
        (segment.purchases, _purchases),
        (segment.interests, partial(_interests, half_life_days=half_life_days)),
        (segment.location, _location),
    ]
    for rule, check in rules:
        if rule is not None:
            checks.append(partial(_profile_only, check, rule))
    for key, test in (segment.attributes or {}).items():
        checks.append(partial(_attribute_check, key, test))
    if segment.predicted_response is not None:
        checks.append(partial(_predicted_response, segment.predicted_response, response))
    if segment.top_regions is not None:
        checks.append(partial(_top_regions, segment.top_regions, response))
    checks += [partial(_nested, child, half_life_days, response) for child in segment.all or []]
    if segment.any is not None:
        checks.append(partial(_any, segment.any, half_life_days, response))
    if segment.not_ is not None:
        checks.append(partial(_not, segment.not_, half_life_days, response))
    if len(_COMPILED) > 4096:  # old sets' segments: forget them all, recompile what is live
        _COMPILED.clear()
    _COMPILED[(id(segment), half_life_days, id(response))] = (segment, response, checks)
    return checks


def _named(
    name: str,
    half_life: float,
    response: RegionalView | None,
    profile: Profile,
    now: int,
    named: Mapping[str, Segment],
) -> str | None:
    target = named.get(name)
    if target is None:
        raise UnknownSegment(name)
    why = explain(target, profile, now, named, half_life_days=half_life, response=response)
    return f"segment {name}: {why}" if why else None


def _lifecycle(
    stages: list[Stage], profile: Profile, now: int, named: Mapping[str, Segment]
) -> str | None:
    if profile.stage in stages:
        return None
    wanted = ", ".join(stage.value for stage in stages)
    return f"lifecycle is {profile.stage.value if profile.stage else 'unknown'}, not {wanted}"


def _profile_only(
    check: Callable[[Any, Profile, int], str | None],
    rule: object,
    profile: Profile,
    now: int,
    named: Mapping[str, Segment],
) -> str | None:
    return check(rule, profile, now)


def _attribute_check(
    key: str, test: AttributeTest, profile: Profile, now: int, named: Mapping[str, Segment]
) -> str | None:
    return _attribute(key, test, profile)


def _nested(
    child: Segment,
    half_life: float,
    response: RegionalView | None,
    profile: Profile,
    now: int,
    named: Mapping[str, Segment],
) -> str | None:
    return explain(child, profile, now, named, half_life_days=half_life, response=response)


def _any(
    children: list[Segment],
    half_life: float,
    response: RegionalView | None,
    profile: Profile,
    now: int,
    named: Mapping[str, Segment],
) -> str | None:
    if all(
        explain(c, profile, now, named, half_life_days=half_life, response=response)
        for c in children
    ):
        return "none of the 'any' conditions hold"
    return None


def _not(
    child: Segment,
    half_life: float,
    response: RegionalView | None,
    profile: Profile,
    now: int,
    named: Mapping[str, Segment],
) -> str | None:
    if explain(child, profile, now, named, half_life_days=half_life, response=response) is None:
        return "matches the 'not' condition"
    return None


def _region_predictions(
    category: str, metric: str, response: RegionalView | None, profile: Profile
) -> tuple[str, RegionalPredictions] | str:
    """(the user's region, the model's predictions), or why there is no prediction."""
    if response is None:
        return "no regional response model published yet"
    predictions = response.model.predictions(category, metric)
    if predictions is None:
        return f"the regional model has no {category} {metric} data yet"
    region = response.region_of(profile)
    if not region:
        return f"{response.model.level} unknown: no {category} {metric} prediction"
    return region, predictions


def _predicted_response(
    rule: PredictedResponse,
    response: RegionalView | None,
    profile: Profile,
    now: int,
    named: Mapping[str, Segment],
) -> str | None:
    found = _region_predictions(rule.category, rule.metric, response, profile)
    if isinstance(found, str):
        return found
    region, predictions = found
    rate = predictions.predicted(region)
    said = f"{region} predicted {rule.category} {rule.metric} {100 * rate:.1f}%"
    if rule.at_least is not None and rate < rule.at_least:
        return f"{said}, needs at least {100 * rule.at_least:g}%"
    if rule.at_most is not None and rate > rule.at_most:
        return f"{said}, allows at most {100 * rule.at_most:g}%"
    return None


def _top_regions(
    rule: TopRegions,
    response: RegionalView | None,
    profile: Profile,
    now: int,
    named: Mapping[str, Segment],
) -> str | None:
    found = _region_predictions(rule.category, rule.metric, response, profile)
    if isinstance(found, str):
        return found
    region, predictions = found
    if predictions.in_top(region, rule.share):
        return None
    what = f"{rule.category} {rule.metric}"
    rank = predictions.rank(region)
    if rank is None:
        return f"{region} has no {what} sends yet: not ranked"
    return (
        f"{region} predicted {what} {100 * predictions.predicted(region):.1f}%, "
        f"ranked {rank} of {len(predictions.regions)}: not in the top {100 * rule.share:g}%"
    )


def count_within(profile: Profile, event: str, days: int, now: int) -> int:
    counts = profile.counts.get(event)
    if counts is None:
        return 0
    today = now // DAY
    return sum(n for day, n in counts.days.items() if today - days < day <= today)


def _behavior(rule: Behavior, profile: Profile, now: int) -> str | None:
    count = count_within(profile, rule.event, rule.within_days, now)
    if rule.count_gte is not None and count < rule.count_gte:
        return f"{rule.event} {count}x in {rule.within_days}d, needs at least {rule.count_gte}"
    if rule.count_lte is not None and count > rule.count_lte:
        return f"{rule.event} {count}x in {rule.within_days}d, allows at most {rule.count_lte}"
    return None


def _last(profile: Profile, event: str | None) -> int | None:
    if event is None:
        return profile.last_seen
    counts = profile.counts.get(event)
    return counts.last_at if counts and counts.total else None


def _recency(rule: Recency, profile: Profile, now: int) -> str | None:
    last = _last(profile, rule.event)
    what = rule.event or "any activity"
    if rule.within_days is not None and (last is None or now - last > rule.within_days * DAY):
        return f"no {what} in the last {rule.within_days}d"
    recent = last is not None and rule.not_within_days is not None
    if recent and now - (last or 0) <= (rule.not_within_days or 0) * DAY:
        return f"{what} within the last {rule.not_within_days}d"
    return None


def _did_not(rule: DidNot, profile: Profile, now: int) -> str | None:
    if count_within(profile, rule.did, rule.within_days, now) == 0:
        return f"no {rule.did} in the last {rule.within_days}d"
    did_at = _last(profile, rule.did) or 0
    not_at = _last(profile, rule.not_)
    # 'not' counts only when it came after the 'did' (viewed, then bought: no longer a target)
    if not_at is not None and not_at >= did_at and now - not_at <= rule.within_days * DAY:
        return f"{rule.not_} happened after {rule.did}"
    return None


def _purchases(rule: Purchases, profile: Profile, now: int) -> str | None:
    today = now // DAY
    days = profile.purchases.days
    total = sum(v for d, v in days.items() if today - rule.within_days < d <= today)
    if rule.total_gte is not None and total < rule.total_gte:
        return f"purchases {total:g} in {rule.within_days}d, needs {rule.total_gte:g}"
    if rule.purchase_days_gte is not None:
        count = sum(1 for d, v in days.items() if today - rule.within_days < d <= today and v)
        if count < rule.purchase_days_gte:
            return f"{count} purchase days in {rule.within_days}d, needs {rule.purchase_days_gte}"
    return None


def interest_scores(profile: Profile, now: int, half_life_days: float) -> dict[str, float]:
    """Scores decayed to `now` (stored scores are as of their own `as_of`), as ingest decays."""
    return {
        name: decayed_interest(item, now, half_life_days)
        for name, item in profile.interests.items()
    }


def _interests(rule: Interests, profile: Profile, now: int, *, half_life_days: float) -> str | None:
    scores = interest_scores(profile, now, half_life_days)
    top = sorted(scores, key=lambda name: (-scores[name], name))[: rule.top]
    held = {name for name in top if scores[name] >= rule.min_score}
    if rule.any and not held & set(rule.any):
        return f"none of the interests {', '.join(rule.any)} among the top {rule.top}"
    missing = [name for name in rule.all if name not in held]
    if missing:
        return f"interests {', '.join(missing)} missing"
    return None


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def _location(rule: LocationRule, profile: Profile, now: int) -> str | None:
    where = profile.location
    if where is None or now - where.at > rule.seen_within_days * DAY:
        return f"no known location in the last {rule.seen_within_days}d"
    km = distance_km(where.lat, where.lng, rule.near.lat, rule.near.lng)
    if km > rule.near.radius_km:
        return f"last seen {km:.0f} km away (radius {rule.near.radius_km:g} km)"
    return None


def test_value(value: Scalar | None, test: AttributeTest | Scalar) -> bool:
    """An attribute or event property against a list of values, one value, or a range."""
    if isinstance(test, list):
        return value in test or (value is not None and str(value) in map(str, test))
    if not isinstance(test, PropertyTest):
        return value == test
    if test.exists is not None and (value is not None) != test.exists:
        return False
    if test.in_ is not None and value not in test.in_:
        return False
    if not _version_ok(value, test):
        return False
    if test.gte is not None or test.lte is not None:
        number = _number(value)
        if number is None:
            return False
        if test.gte is not None and number < test.gte:
            return False
        if test.lte is not None and number > test.lte:
            return False
    return True


def _number(value: Scalar | None) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except ValueError:
        return None


def version_key(text: str) -> tuple[int, ...]:
    """'2.10.1' -> (2, 10, 1): versions compare by their parts, not as decimals."""
    parts = []
    for part in text.strip().lstrip("vV").split("."):
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def _version_ok(value: Scalar | None, test: PropertyTest) -> bool:
    if test.version_gte is None and test.version_lt is None:
        return True
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return False
    key = version_key(str(value))
    if test.version_gte is not None and key < version_key(test.version_gte):
        return False
    return test.version_lt is None or key < version_key(test.version_lt)


def _attribute(key: str, test: AttributeTest, profile: Profile) -> str | None:
    attribute = profile.attributes.get(key)
    value = attribute.value if attribute is not None else None
    if not test_value(value, test):
        return f"attribute {key} is {value!r}"
    return None
