"""Profile <-> DynamoDB item, and DynamoDB's item-size rules for counting write units."""

from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import cache
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


# ---- attribute values <-> Python values (boto3's TypeSerializer / TypeDeserializer) ----
# boto3 is imported on first use, never at import time (cold starts: see adapters/aws.py).


@cache
def _codecs() -> tuple[Any, Any]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

    return TypeSerializer(), TypeDeserializer()


def _prepared(value: Any) -> Any:
    """What TypeSerializer accepts: floats as Decimal (it refuses floats), recursively."""
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, Mapping):
        return {k: _prepared(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_prepared(v) for v in value]
    if isinstance(value, set | frozenset):
        return {_prepared(v) for v in value}
    return value


def _sorted_sets(value: dict[str, Any]) -> dict[str, Any]:
    """Set members in sorted order (TypeSerializer follows the set's hash order)."""
    ((kind, inner),) = value.items()
    if kind in ("SS", "NS", "BS"):
        return {kind: sorted(inner)}
    if kind == "M":
        return {"M": {k: _sorted_sets(v) for k, v in inner.items()}}
    if kind == "L":
        return {"L": [_sorted_sets(v) for v in inner]}
    return value


def serialize(value: Any) -> dict[str, Any]:
    """One Python value as an attribute value: str S, int/float/Decimal N, bool BOOL, bytes B,
    None NULL, dict M, list L, set of str/numbers/bytes SS/NS/BS."""
    serializer, _ = _codecs()
    return _sorted_sets(serializer.serialize(_prepared(value)))


def _plain(value: Any) -> Any:
    """TypeDeserializer's Decimal and Binary as the int/float and bytes the adapters use."""
    if type(value).__name__ == "Binary":  # boto3.dynamodb.types.Binary, not imported here
        return bytes(value.value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, set):
        return {_plain(v) for v in value}
    return value


def deserialize(value: dict[str, Any]) -> Any:
    """One attribute value as a Python value: N as int (float when not integral), B as bytes."""
    _, deserializer = _codecs()
    return _plain(deserializer.deserialize(value))


def to_item(mapping: Mapping[str, Any]) -> dict[str, Any]:
    """A DynamoDB item (or key, or ExpressionAttributeValues) from plain values; None values
    are left out (no attribute), as the adapters write optional fields."""
    return {name: serialize(value) for name, value in mapping.items() if value is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: deserialize(value) for name, value in item.items()}


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


# The packed format has a version, 'f', written first in every 'agg'. Items written before it
# existed carry none: they are format 1, the same layout. A later format gets the next number
# and a decoder in AGG_DECODERS (reading every older one), so deployed items keep reading; an
# unknown number (an item written by a newer release) fails loudly instead of misreading.
AGG_FORMAT = 1
UNMARKED_FORMAT = 1


def _encode_agg(profile: Profile) -> str:
    base = profile.last_seen // DAY if profile.last_seen is not None else 0
    agg: dict[str, Any] = {"f": AGG_FORMAT, "b": base}
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
    version = agg.get("f", UNMARKED_FORMAT)
    decoder = AGG_DECODERS.get(version)
    if decoder is None:
        raise ValueError(f"unknown packed profile format {version!r} (written by a newer release?)")
    return decoder(agg)


def _decode_agg_v1(agg: dict[str, Any]) -> dict[str, Any]:
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


AGG_DECODERS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _decode_agg_v1}

_NUMBER_FIELDS = ("first_seen", "last_seen", "stage_since", "due_at", "erased_at")


# An active user's aggregates run to 1 KB of JSON, and a profile over 1 KB costs two write
# units on every write; compressed ('agz', zlib) they take about half. Short ones stay
# readable text ('agg'): compressing them saves nothing. Both are read.
COMPRESS_FROM = 300


def _packed(agg: str) -> dict[str, Any]:
    if len(agg) < COMPRESS_FROM:
        return {"agg": agg}
    return {"agz": zlib.compress(agg.encode(), 6)}


def profile_to_item(profile: Profile, due_shards: int) -> dict[str, Any]:
    due, erased = profile.due_at, profile.erased_at
    # a bare tombstone expires on its own (table TTL); a user who came back does not
    expires = erased + TOMBSTONE_TTL if erased is not None and profile.first_seen is None else None
    return to_item(
        {
            "user_id": profile.user_id,
            "v": profile.version,
            **_packed(_encode_agg(profile)),
            **{name: getattr(profile, name) for name in _NUMBER_FIELDS},
            "stage": profile.stage.value if profile.stage is not None else None,
            "expires_at": expires,
            "due_bucket": due_bucket(due, profile.user_id, due_shards) if due is not None else None,
        }
    )


def item_to_profile(item: dict[str, Any]) -> Profile:
    values = from_item(item)
    data: dict[str, Any] = {}
    if "agz" in values:
        data = _decode_agg(zlib.decompress(values["agz"]).decode())
    elif "agg" in values:
        data = _decode_agg(values["agg"])
    data["user_id"] = values["user_id"]
    data["version"] = values["v"]
    for name in _NUMBER_FIELDS:
        if name in values:
            data[name] = values[name]
    if "stage" in values:
        data["stage"] = values["stage"]
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
