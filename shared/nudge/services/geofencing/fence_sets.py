"""Fence sets as versioned configs: validate (GeoJSON or CSV), publish, archive, list.

A set is published whole, like a campaign: parsed with located problems (`parse_geojson`,
`parse_csv`), written to the configs bucket as a normalized object (content-addressed by the
set's content hash), then stored as the next version of config kind `geofences` in
ConfigsTable. The content hash covers the name and the fences (not the file's format or
formatting), so re-uploading the same fences - even as CSV instead of GeoJSON - stores
nothing. Uploads to `geofences/<set_id>.geojson|.csv` arrive through `load_object` /
`object_removed` (config_loader); a bad file is recorded as load errors on its object key and
the previous version stays current.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from nudge.configfiles import ConfigError, ConfigProblem
from nudge.models.configs import LoadError, object_keys, parse_key
from nudge.services.configs.loading import LoadOutcome, load_config_object

if TYPE_CHECKING:
    from nudge.clock import Clock
    from nudge.models.configs import ConfigHead
    from nudge.models.geofence import FenceSet
    from nudge.services.configs.store import ConfigStore, PublishResult
    from nudge.services.ports import FenceObjects

FenceFormat = Literal["geojson", "csv"]
FORMATS: dict[str, FenceFormat] = {".geojson": "geojson", ".csv": "csv"}


def parse_fence_set(text: str, fmt: FenceFormat, source: str, set_id: str) -> FenceSet:
    """Validate a whole file; ConfigError lists located problems (source:line: field: msg)."""
    from nudge.domain.geofencing.importing import parse_csv, parse_geojson

    parse = parse_csv if fmt == "csv" else parse_geojson
    return parse(text, source=source, set_id=set_id)


class FenceSetService:
    def __init__(self, store: ConfigStore, objects: FenceObjects, clock: Clock) -> None:
        self.store = store
        self.objects = objects
        self.clock = clock

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    def publish(
        self,
        set_id: str,
        text: str,
        fmt: FenceFormat,
        source: str,
        stored_source: str | None = None,
        s3_version_id: str | None = None,
    ) -> tuple[PublishResult, FenceSet]:
        """Validate, write the normalized object, then make it the current version."""
        from nudge.domain.geofencing.packing import pack_fence_set, published_key

        fence_set = parse_fence_set(text, fmt, source, set_id)
        digest = fence_set.content_hash
        key = published_key(set_id, digest)
        head = self.store.head("geofences", set_id)
        if head is None or head.sha256 != digest:
            self.objects.put(key, pack_fence_set(fence_set))  # before the pointer moves
        model = {
            "name": fence_set.name,
            "fences": len(fence_set.fences),
            "format": fmt,
            "object": key,
            "tags": sorted({tag for fence in fence_set.fences for tag in fence.tags}),
        }
        result = self.store.publish(
            "geofences",
            set_id,
            "",  # the fences are in the object; versions keep only the model
            model,
            "active",
            stored_source or source,
            s3_version_id,
            digest=digest,
        )
        return result, fence_set

    def set_status(self, set_id: str, status: Literal["active", "archived"]) -> ConfigHead | None:
        return self.store.set_status("geofences", set_id, status)

    def list_sets(self) -> list[dict[str, Any]]:
        errors = self.store.errors()
        rows = []
        seen: set[str] = set()
        for head in self.store.list_current("geofences"):
            keys = object_keys("geofences", head.config_id)
            seen.update(keys)
            found = [errors[key] for key in keys if key in errors]
            rows.append(_summary(head, max(found, key=lambda e: e.at) if found else None))
        for key, error in sorted(errors.items()):
            parsed = parse_key(key)
            if key not in seen and parsed and parsed[0] == "geofences":
                rows.append(
                    {
                        "id": parsed[1],
                        "name": None,
                        "status": "not loaded",
                        "version": None,
                        "fences": None,
                        "sha256": None,
                        "errors": error.problems,
                        "errors_at": error.at,
                        "errors_sha256": error.sha256,
                    }
                )
        return rows

    # ---- the configs bucket (config_loader) ----
    def load_object(self, key: str, body: bytes, s3_version_id: str | None) -> LoadOutcome:
        parsed = parse_key(key)
        if parsed is None or parsed[0] != "geofences":
            return LoadOutcome(key, "ignored")
        set_id = parsed[1]
        fmt = FORMATS[key[key.rindex(".") :]]

        def publish(text: str) -> Any:
            _check_set_id(set_id, key)
            return self.publish(set_id, text, fmt, key, key, s3_version_id)[0]

        return load_config_object(self.store, key, body, s3_version_id, self._now(), publish)

    def object_removed(self, key: str) -> LoadOutcome:
        """A deleted file archives its set - unless the set's current version came from the
        set's other file (`x.csv` deleted while `x.geojson` is what is live)."""
        parsed = parse_key(key)
        if parsed is None or parsed[0] != "geofences":
            return LoadOutcome(key, "ignored")
        set_id = parsed[1]
        head = self.store.head("geofences", set_id)
        if head is None:
            self.store.clear_error(key)
            return LoadOutcome(key, "ignored")
        current = self.store.get_version("geofences", set_id, head.version)
        sources = object_keys("geofences", set_id)
        if current is not None and current.source in sources and current.source != key:
            self.store.clear_error(key)
            return LoadOutcome(key, "ignored", head.version)
        archived = self.store.set_status("geofences", set_id, "archived", deleted=True)
        self.store.clear_error(key)
        return LoadOutcome(key, "archived", archived.version if archived else None)


def _check_set_id(set_id: str, source: str) -> None:
    import re

    if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]{0,63}", set_id):
        raise ConfigError(
            [
                ConfigProblem(
                    source,
                    None,
                    "",
                    f"set id {set_id[:64]!r} (the file name) must be lowercase a-z, 0-9, - "
                    "and _ (at most 64)",
                )
            ]
        )


def _summary(head: ConfigHead, error: LoadError | None) -> dict[str, Any]:
    model = head.model
    return {
        "id": head.config_id,
        "name": model.get("name"),
        "status": head.status,
        "version": head.version,
        "fences": model.get("fences"),
        "tags": model.get("tags", []),
        "format": model.get("format"),
        "sha256": head.sha256,
        "updated_at": head.updated_at,
        "deleted": head.deleted,
        "errors": error.problems if error else [],
        "errors_at": error.at if error else None,
        "errors_sha256": error.sha256 if error else None,
    }
