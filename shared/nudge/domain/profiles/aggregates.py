"""Order-independent profile aggregates.

Every field is a commutative merge (min, max, sum, per-day buckets, decayed scores expressed
as of the latest event), so applying the same set of events in any order, in any number of
batches, yields the same profile. Windows are anchored on the data (the latest event), not on
the processing time, for the same reason. The two size caps (distinct event names, interests)
are the exception: at the margin of a cap, which entry survives can depend on batching.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Iterable

from nudge.clock import DAY
from nudge.domain.config import EngagementConfig
from nudge.models.events import IncomingEvent
from nudge.models.profile import Attribute, InterestScore, LastLocation, NameCounts, Profile

ACTIVITY_HORIZON_DAYS = 60  # enough to see a 30-day window and a return after a long gap
COUNT_HORIZON_DAYS = 30
RECENT_WINDOW_SECONDS = 30 * 60  # longer than SQS redelivery (visibility x receives)
RECENT_MAX = 128
ATTRIBUTES_EVENT = "user_attributes"  # the app (or devices_api) sets attributes with this event
# An opt-out (a category turned off, push permission revoked, an uninstall seen by push_sender):
# counted for analytics (domain/engagement_events.py); not something the user did in the app.
OPT_OUT_EVENT = "push_opt_out"
MAX_ATTRIBUTES = 30
MAX_ATTRIBUTE_CHARS = 100


def day_of(epoch: int) -> int:
    return epoch // DAY


FINGERPRINT_CHARS = 8


def event_hash(event_id: str) -> str:
    """A short, stable fingerprint of an event id: 48 bits as 8 URL-safe characters.

    Collisions only matter among one user's last few minutes of events (<= RECENT_MAX).
    """
    digest = hashlib.blake2b(event_id.encode(), digest_size=6).digest()
    return base64.urlsafe_b64encode(digest).decode()


def epoch_of(event: IncomingEvent) -> int:
    return int(event.timestamp.timestamp())


def clone(profile: Profile) -> Profile:
    """A deep copy, done by pydantic-core (about three times faster than copy.deepcopy)."""
    return Profile.model_validate(profile.model_dump())


def apply_events(
    profile: Profile,
    events: Iterable[IncomingEvent],
    config: EngagementConfig,
    now: int,
    recorded: Iterable[str] = (),
) -> Profile:
    """Return a new profile with `events` folded in. Events already in `recent` are skipped.

    `recorded`: ids of events whose history record is known to be written; their
    fingerprints are no longer needed, which leaves room for the ones that are.
    """
    result = clone(profile)
    for event_id in recorded:
        result.recent.pop(event_hash(event_id), None)
    applied = False
    for event in events:
        fingerprint = event_hash(event.event_id)
        if fingerprint in result.recent:
            continue
        _fold(result, event, config)
        result.recent[fingerprint] = now
        applied = True
    if applied:
        _prune(result, config)
    _prune_recent(result, now)
    return result


def _fold_activity(profile: Profile, at: int, day: int) -> None:
    profile.first_seen = at if profile.first_seen is None else min(profile.first_seen, at)
    profile.last_seen = at if profile.last_seen is None else max(profile.last_seen, at)
    profile.active_days[day] = profile.active_days.get(day, 0) + 1


def _fold(profile: Profile, event: IncomingEvent, config: EngagementConfig) -> None:
    at = epoch_of(event)
    day = day_of(at)
    # an opt-out is not use of the app, except as the first sign of a user (a profile needs one)
    if event.name != OPT_OUT_EVENT or profile.first_seen is None:
        _fold_activity(profile, at, day)

    counts = profile.counts.setdefault(event.name, NameCounts())
    counts.total += 1
    counts.last_at = max(counts.last_at, at)
    counts.days[day] = counts.days.get(day, 0) + 1

    if event.name in config.purchase_events:
        amount = _amount(event.properties.get(config.purchase_amount_property))
        profile.purchases.count += 1
        profile.purchases.total = round(profile.purchases.total + amount, 4)
        profile.purchases.days[day] = round(profile.purchases.days.get(day, 0.0) + amount, 4)

    if event.name == ATTRIBUTES_EVENT:
        _set_attributes(profile, event, at)
    if event.location is not None:
        current = profile.location
        if current is None or (at, event.location.lat) > (current.at, current.lat):
            profile.location = LastLocation(
                lat=round(event.location.lat, 3), lng=round(event.location.lng, 3), at=at
            )

    for rule in config.interests:
        if rule.event != event.name:
            continue
        interest = rule.interest
        if rule.from_property is not None:
            value = event.properties.get(rule.from_property)
            interest = str(value).strip().lower()[:64] if isinstance(value, str) and value else None
        if interest:
            _add_interest(profile, interest, rule.weight, at, config.interest_half_life_days)


def _set_attributes(profile: Profile, event: IncomingEvent, at: int) -> None:
    """Last writer wins per key by event time (ties: the larger value), so order never matters."""
    for key, value in event.properties.items():
        if isinstance(value, list):
            continue
        current = profile.attributes.get(key)
        if value is None:
            if current is not None and current.at <= at:
                del profile.attributes[key]
            continue
        if current is None or (at, str(value)) > (current.at, str(current.value)):
            if current is None and len(profile.attributes) >= MAX_ATTRIBUTES:
                continue
            text = value[:MAX_ATTRIBUTE_CHARS] if isinstance(value, str) else value
            profile.attributes[key] = Attribute(value=text, at=at)


def _amount(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value) if math.isfinite(value) and value > 0 else 0.0


def _decay(score: float, from_at: int, to_at: int, half_life_days: float) -> float:
    return score * 2.0 ** (-(to_at - from_at) / (half_life_days * DAY))


def _add_interest(profile: Profile, name: str, weight: float, at: int, half_life: float) -> None:
    current = profile.interests.get(name)
    if current is None:
        profile.interests[name] = InterestScore(score=weight, as_of=at)
        return
    as_of = max(current.as_of, at)
    score = _decay(current.score, current.as_of, as_of, half_life) + _decay(
        weight, at, as_of, half_life
    )
    profile.interests[name] = InterestScore(score=score, as_of=as_of)


def _prune(profile: Profile, config: EngagementConfig) -> None:
    assert profile.last_seen is not None
    latest_day = day_of(profile.last_seen)
    activity_floor = latest_day - ACTIVITY_HORIZON_DAYS
    count_floor = latest_day - COUNT_HORIZON_DAYS
    profile.active_days = {d: n for d, n in profile.active_days.items() if d > activity_floor}
    for counts in profile.counts.values():
        counts.days = {d: n for d, n in counts.days.items() if d > count_floor}
    profile.purchases.days = {d: a for d, a in profile.purchases.days.items() if d > count_floor}
    if len(profile.counts) > config.max_event_names:
        kept = sorted(profile.counts.items(), key=lambda item: (-item[1].last_at, item[0]))
        profile.counts = dict(kept[: config.max_event_names])
    retention = config.location_retention_days * DAY
    if profile.location is not None and profile.location.at < profile.last_seen - retention:
        profile.location = None
    if len(profile.interests) > config.max_interests:
        ranked = sorted(
            profile.interests.items(),
            key=lambda item: (-interest_score(item[1], profile.last_seen or 0, config), item[0]),
        )
        profile.interests = dict(ranked[: config.max_interests])


def _prune_recent(profile: Profile, now: int) -> None:
    floor = now - RECENT_WINDOW_SECONDS
    recent = {h: t for h, t in profile.recent.items() if t > floor}
    if len(recent) > RECENT_MAX:
        recent = dict(sorted(recent.items(), key=lambda item: (-item[1], item[0]))[:RECENT_MAX])
    profile.recent = recent


def decayed_interest(score: InterestScore, now: int, half_life_days: float) -> float:
    """The interest's score decayed from its `as_of` to `now` (a `now` before it: undecayed).

    The one decay rule: ingest folds with it and segments evaluate with it, both given
    `EngagementConfig.interest_half_life_days`.
    """
    return _decay(score.score, score.as_of, max(now, score.as_of), half_life_days)


def interest_score(score: InterestScore, now: int, config: EngagementConfig) -> float:
    """The interest's score decayed to `now`."""
    return decayed_interest(score, now, config.interest_half_life_days)


def top_interests(profile: Profile, now: int, config: EngagementConfig) -> list[tuple[str, float]]:
    scored = [(name, interest_score(s, now, config)) for name, s in profile.interests.items()]
    return sorted(scored, key=lambda item: (-item[1], item[0]))


def count_within(profile: Profile, name: str, now: int, days: int) -> int:
    """Events called `name` in the rolling window of `days` days ending today (UTC days)."""
    counts = profile.counts.get(name)
    if counts is None:
        return 0
    floor = day_of(now) - days
    return sum(n for d, n in counts.days.items() if floor < d <= day_of(now))


def purchases_within(profile: Profile, now: int, days: int) -> float:
    floor = day_of(now) - days
    return round(sum(a for d, a in profile.purchases.days.items() if floor < d <= day_of(now)), 4)


def active_days_within(profile: Profile, now: int, days: int) -> int:
    floor = day_of(now) - days
    return sum(1 for d in profile.active_days if floor < d <= day_of(now))


def sessions(profile: Profile, config: EngagementConfig) -> int:
    counts = profile.counts.get(config.session_event)
    return counts.total if counts else 0
