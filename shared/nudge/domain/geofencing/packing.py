"""A fence set as it is published (content-addressed, gzip JSON): pure, no AWS."""

from __future__ import annotations

import gzip

from nudge.models.geofence import FenceSet

PUBLISHED_PREFIX = "published/geofences/"


def published_key(set_id: str, content_hash: str) -> str:
    return f"{PUBLISHED_PREFIX}{set_id}/{content_hash}.json.gz"


def pack_fence_set(fence_set: FenceSet) -> bytes:
    """The normalized set as stored: FenceSet JSON (without the computed hash), gzip."""
    body = fence_set.model_dump_json(exclude={"content_hash"})
    return gzip.compress(body.encode("utf-8"), compresslevel=6, mtime=0)


def unpack_fence_set(data: bytes, version: int | None = None) -> FenceSet:
    fence_set = FenceSet.model_validate_json(gzip.decompress(data))
    if version is not None and version != fence_set.version:
        fence_set = fence_set.model_copy(update={"version": version})
    return fence_set
