"""Published fence sets: whole objects in the configs bucket, and the FenceCatalog port.

Storage (why not DynamoDB alone: a set of thousands of fences does not fit a 400 KB item):
- ConfigsTable holds each set like a campaign (kind `geofences`): versions, the current
  pointer, status (active/archived), load errors and the catalog item. A version's model is
  small: the set's name, fence count, content hash and the key of its published object.
- The validated, normalized set (`FenceSet` JSON, gzip) is written to the configs bucket at
  `published/geofences/<set_id>/<content_hash>.json.gz` *before* the pointer moves, so the
  catalog never names a missing object. Content-addressed: an identical re-upload writes the
  same object and stores no version; old objects stay for restores and audit.

`StoredFenceCatalog.current_index()` checks the geofences catalog at most every
`check_every_s` (by the injected clock) and rebuilds the index only when the set versions
changed, reading only the sets it has not parsed before. shapely, h3 and numpy are imported
by `build_index`, i.e. on the first build, never at import.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from nudge.domain.geofencing.packing import unpack_fence_set
from nudge.models.geofence import FenceSet

if TYPE_CHECKING:
    from nudge.clock import Clock
    from nudge.domain.geofencing.index import FenceIndex
    from nudge.services.configs.store import ConfigStore
    from nudge.services.ports import FenceObjects

logger = Logger(child=True)
CHECK_EVERY_S = 30.0


class S3FenceObjects:
    """The FenceObjects port over the configs bucket (boto3 client created on first use)."""

    MISSING = frozenset({"NoSuchKey", "404", "NotFound"})

    def __init__(self, bucket: str, s3: Any = None) -> None:
        self.bucket = bucket
        self._s3 = s3

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            from nudge.adapters.aws import client

            self._s3 = client("s3")
        return self._s3

    def put(self, key: str, data: bytes) -> None:
        if not self.bucket:
            raise RuntimeError("NUDGE_CONFIGS_BUCKET is not set: cannot publish fence sets")
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/gzip")

    def get(self, key: str) -> bytes | None:
        if not self.bucket:
            raise RuntimeError("NUDGE_CONFIGS_BUCKET is not set: cannot read fence sets")
        try:
            response = self.s3.get_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            code = getattr(error, "response", {}).get("Error", {}).get("Code")
            if str(code) in self.MISSING:
                return None
            raise
        return bytes(response["Body"].read())


Signature = frozenset[tuple[str, int, str]]  # (set id, version, content hash)


class StoredFenceCatalog:
    """The FenceCatalog port over ConfigsTable (which sets, which versions) and the objects.

    Per container: the last index, the sets it was built from (parsed once per content
    hash) and when the catalog was last checked. A failed rebuild keeps serving the previous
    index (logged) and is retried at the next check; with no previous index it raises.
    """

    def __init__(
        self,
        store: ConfigStore,
        objects: FenceObjects,
        clock: Clock,
        check_every_s: float = CHECK_EVERY_S,
        builder: Callable[[Iterable[FenceSet]], FenceIndex] | None = None,
    ) -> None:
        self.store = store
        self.objects = objects
        self.clock = clock
        self.check_every_s = check_every_s
        self._builder = builder
        self._checked_at: float | None = None
        self._signature: Signature | None = None
        self._index: FenceIndex | None = None
        self._sets: dict[tuple[str, str], FenceSet] = {}  # (set id, hash) -> parsed set
        self.builds = 0  # how many indexes were built (tests, metrics)

    def current_index(self) -> FenceIndex | None:
        now = self.clock.now().timestamp()
        if self._checked_at is not None and 0 <= now - self._checked_at < self.check_every_s:
            return self._index
        self._checked_at = now
        catalog = self.store.catalog("geofences", fresh=True)
        wanted = {
            set_id: entry
            for set_id, entry in catalog.entries.items()
            if entry.status == "active" and entry.model.get("object")
        }
        signature: Signature = frozenset(
            (set_id, entry.version, entry.sha256) for set_id, entry in wanted.items()
        )
        if signature == self._signature:
            return self._index
        try:
            index = self._build(wanted)
        except Exception:
            if self._index is None and self._signature is None:
                self._checked_at = None  # nothing to serve: try again on the next call
                raise
            logger.exception("fence index rebuild failed; serving the previous one")
            return self._index
        self._signature, self._index = signature, index
        return index

    def _build(self, wanted: dict[str, Any]) -> FenceIndex | None:
        sets: list[FenceSet] = []
        keep: dict[tuple[str, str], FenceSet] = {}
        for set_id, entry in sorted(wanted.items()):
            cache_key = (set_id, entry.sha256)
            fence_set = self._sets.get(cache_key)
            if fence_set is None:
                data = self.objects.get(entry.model["object"])
                if data is None:
                    raise RuntimeError(f"fence set {set_id!r}: {entry.model['object']} is missing")
                fence_set = unpack_fence_set(data)
            fence_set = fence_set.model_copy(update={"version": entry.version})
            keep[cache_key] = fence_set
            sets.append(fence_set)
        self._sets = keep
        if not sets:
            return None
        build = self._builder
        if build is None:
            from nudge.domain.geofencing.index import build_index

            build = build_index
        index = build(sets)
        self.builds += 1
        logger.info(
            "fence index built",
            extra={"sets": {s.id: s.version for s in sets}, "fences": len(index)},
        )
        return index
