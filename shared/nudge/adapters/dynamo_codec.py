"""Profile <-> DynamoDB item, and DynamoDB's item-size rules for counting write units."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from nudge.domain.profiles.aggregates import DAY, FINGERPRINT_CHARS
from nudge.models.profile import Profile, Stage

HOUR = 3_600
TOMBSTONE_TTL = 14 * 86_400  # longer than any event can wait in the queue
STAGE_CODES = {
    Stage.NEW: "n",
    Stage.ACTIVE: "a",
    Stage.LOYAL: "l",
    Stage.AT_RISK: "r",
    Stage.DORMANT: "d",
    Stage.REACTIVATED: "x",
}
CODE_STAGES = {code: stage for stage, code in STAGE_CODES.items()}
CAUSES = {"e": "event", "s": "schedule"}


def due_bucket(due_at: int, user_id: str, shards: int) -> str:
    """Hour bucket plus shard: '<hour>#<shard>'. The scheduler queries one bucket at a time."""
    shard = int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=2).digest()) % shards
    return f"{due_at // HOUR}#{shard}"


# Aggregates ride in one compact JSON string ('agg'): day buckets as offsets from the latest
# day, stages as one letter, fingerprints concatenated. A typical profile stays under 1 KB,
# i.e. one write unit; the fields anything queries on stay top-level attributes.
def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(round(float(value), 4))


def _days_out(days: dict[int, int] | dict[int, float], base: int) -> str:
    return ",".join(f"{base - d}:{_num(v)}" for d, v in sorted(days.items(), reverse=True))


def _days_in(text: str, base: int, kind: type) -> dict[int, Any]:
    if not text:
        return {}
    return {base - int(o): kind(v) for o, v in (part.split(":") for part in text.split(","))}


def _encode_agg(profile: Profile) -> str:
    base = profile.last_seen // DAY if profile.last_seen is not None else 0
    agg: dict[str, Any] = {"b": base}
    if profile.active_days:
        agg["a"] = _days_out(profile.active_days, base)
    if profile.counts:
        agg["c"] = {
            name: [c.total, c.last_at, _days_out(c.days, base)]
            for name, c in sorted(profile.counts.items())
        }
    if profile.purchases.count:
        p = profile.purchases
        agg["p"] = [p.count, _num(p.total), _days_out(p.days, base)]
    if profile.interests:
        agg["i"] = {n: [round(s.score, 6), s.as_of] for n, s in sorted(profile.interests.items())}
    if profile.transitions:
        agg["t"] = [
            [
                STAGE_CODES[t.from_stage] if t.from_stage else "",
                STAGE_CODES[t.to_stage],
                t.at,
                t.cause[0],
            ]
            for t in profile.transitions
        ]
    if profile.attributes:
        agg["u"] = {k: [a.value, a.at] for k, a in sorted(profile.attributes.items())}
    if profile.location is not None:
        agg["l"] = [profile.location.lat, profile.location.lng, profile.location.at]
    if profile.geo is not None:
        agg["g"] = profile.geo
    if not profile.messaging.is_empty():
        agg["m"] = profile.messaging.model_dump(mode="json", exclude_defaults=True)
    if profile.recent:
        groups: dict[int, list[str]] = {}
        for fingerprint, applied_at in sorted(profile.recent.items()):
            groups.setdefault(applied_at, []).append(fingerprint)
        agg["r"] = [[at, "".join(hashes)] for at, hashes in sorted(groups.items())]
    return json.dumps(agg, separators=(",", ":"))


def _decode_agg(text: str) -> dict[str, Any]:
    agg = json.loads(text)
    base = agg.get("b", 0)
    data: dict[str, Any] = {
        "active_days": _days_in(agg.get("a", ""), base, int),
        "counts": {
            name: {"total": total, "last_at": last_at, "days": _days_in(days, base, int)}
            for name, (total, last_at, days) in agg.get("c", {}).items()
        },
        "interests": {n: {"score": s, "as_of": a} for n, (s, a) in agg.get("i", {}).items()},
        "transitions": [
            {
                "from_stage": CODE_STAGES.get(f),
                "to_stage": CODE_STAGES[t],
                "at": at,
                "cause": CAUSES.get(c, c),
            }
            for f, t, at, c in agg.get("t", [])
        ],
        "recent": {
            hashes[i : i + FINGERPRINT_CHARS]: at
            for at, hashes in agg.get("r", [])
            for i in range(0, len(hashes), FINGERPRINT_CHARS)
        },
    }
    if "u" in agg:
        data["attributes"] = {k: {"value": v, "at": at} for k, (v, at) in agg["u"].items()}
    if "l" in agg:
        lat, lng, at = agg["l"]
        data["location"] = {"lat": lat, "lng": lng, "at": at}
    if "m" in agg:
        data["messaging"] = agg["m"]
    if "g" in agg:
        data["geo"] = agg["g"]
    if "p" in agg:
        count, total, days = agg["p"]
        data["purchases"] = {
            "count": count,
            "total": float(total),
            "days": _days_in(days, base, float),
        }
    return data


_NUMBER_FIELDS = ("first_seen", "last_seen", "stage_since", "due_at", "erased_at")


def profile_to_item(profile: Profile, due_shards: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "user_id": {"S": profile.user_id},
        "v": {"N": str(profile.version)},
        "agg": {"S": _encode_agg(profile)},
    }
    for name in _NUMBER_FIELDS:
        value = getattr(profile, name)
        if value is not None:
            item[name] = {"N": str(value)}
    if profile.stage is not None:
        item["stage"] = {"S": profile.stage.value}
    if profile.erased_at is not None and profile.first_seen is None:
        # a bare tombstone expires on its own (table TTL); a user who came back does not
        item["expires_at"] = {"N": str(profile.erased_at + TOMBSTONE_TTL)}
    if profile.due_at is not None:
        item["due_bucket"] = {"S": due_bucket(profile.due_at, profile.user_id, due_shards)}
    return item


def item_to_profile(item: dict[str, Any]) -> Profile:
    data: dict[str, Any] = _decode_agg(item["agg"]["S"]) if "agg" in item else {}
    data["user_id"] = item["user_id"]["S"]
    data["version"] = int(item["v"]["N"])
    for name in _NUMBER_FIELDS:
        if name in item:
            data[name] = int(item[name]["N"])
    if "stage" in item:
        data["stage"] = item["stage"]["S"]
    return Profile.model_validate(data)


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB bills for one attribute value (documented item-size rules)."""
    ((kind, inner),) = value.items()
    if kind == "S":
        return len(inner.encode())
    if kind == "B":
        return len(inner)
    if kind == "N":
        digits = inner.lstrip("-").replace(".", "").strip("0") or "0"
        return math.ceil(len(digits) / 2) + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(k.encode()) + attribute_size(v) + 1 for k, v in inner.items())
    if kind == "L":
        return 3 + sum(attribute_size(v) + 1 for v in inner)
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: v}) for v in inner)
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attribute_size(value) for name, value in item.items())


def write_units(item: dict[str, Any]) -> int:
    return max(1, math.ceil(item_size(item) / 1024))
