"""Profile <-> DynamoDB item, and DynamoDB's item-size rules for counting write units."""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from nudge.models.profile import Profile

HOUR = 3_600
TOMBSTONE_TTL = 14 * 86_400  # longer than any event can wait in the queue
# Top-level, queryable attributes; the rest of the aggregates ride in one compact JSON string,
# which keeps the item well under 1 KB (one write unit) for a typical user.
_AGG_FIELDS = {"active_days", "counts", "purchases", "interests", "transitions", "recent"}


def due_bucket(due_at: int, user_id: str, shards: int) -> str:
    """Hour bucket plus shard: '<hour>#<shard>'. The scheduler queries one bucket at a time."""
    shard = int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=2).digest()) % shards
    return f"{due_at // HOUR}#{shard}"


def profile_to_item(profile: Profile, due_shards: int) -> dict[str, Any]:
    agg = profile.model_dump(mode="json", include=_AGG_FIELDS, exclude_defaults=True)
    item: dict[str, Any] = {
        "user_id": {"S": profile.user_id},
        "v": {"N": str(profile.version)},
        "agg": {"S": json.dumps(agg, separators=(",", ":"), sort_keys=True)},
    }
    for name in ("first_seen", "last_seen", "stage_since", "due_at", "erased_at"):
        value = getattr(profile, name)
        if value is not None:
            item[name] = {"N": str(value)}
    if profile.stage is not None:
        item["stage"] = {"S": profile.stage.value}
    if profile.erased_at is not None:  # a tombstone expires on its own (table TTL)
        item["expires_at"] = {"N": str(profile.erased_at + TOMBSTONE_TTL)}
    if profile.due_at is not None:
        item["due_bucket"] = {"S": due_bucket(profile.due_at, profile.user_id, due_shards)}
    return item


def item_to_profile(item: dict[str, Any]) -> Profile:
    data: dict[str, Any] = json.loads(item["agg"]["S"]) if "agg" in item else {}
    data["user_id"] = item["user_id"]["S"]
    data["version"] = int(item["v"]["N"])
    for name in ("first_seen", "last_seen", "stage_since", "due_at", "erased_at"):
        if name in item:
            data[name] = int(item[name]["N"])
    if "stage" in item:
        data["stage"] = item["stage"]["S"]
    return Profile.model_validate(data)


def attribute_size(value: dict[str, Any]) -> int:
    """Bytes DynamoDB bills for one attribute value (documented item-size rules)."""
    (kind, inner), = value.items()
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
