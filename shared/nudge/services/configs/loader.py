"""config_loader's use case: an S3 upload or deletion of a config file becomes a new version,
an archive, or a load error recorded on the object key (never an exception of the function).

Events may arrive out of order: an event for a version that is no longer the object's current
one is skipped (the newer upload, or the deletion, has its own event). AWS failures raise, so
S3's asynchronous retries and the DLQ apply. An object over its kind's size limit is refused by
its size, before its body is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from nudge.configfiles import MAX_CONFIG_BYTES, MAX_FENCE_SET_BYTES, too_large
from nudge.models.configs import ConfigKind, LoadError, parse_key
from nudge.services.configs.loading import LoadOutcome, reject

if TYPE_CHECKING:
    from nudge.clock import Clock


class ObjectTooLarge(Exception):
    """The object holds more than the reader was allowed to read (its body was not read)."""

    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


class ConfigObjects(Protocol):
    """Where marketers upload config files (the configs bucket)."""

    def current_version(self, bucket: str, key: str) -> str | None: ...

    def read(self, bucket: str, key: str, version_id: str | None, max_bytes: int) -> bytes | None:
        """None if gone; raises ObjectTooLarge past `max_bytes`, never reading it all."""
        ...


class LoadErrors(Protocol):
    """Where a key's load problems are kept (the ConfigStore)."""

    def record_error(self, error: LoadError) -> None: ...


def max_object_bytes(kind: ConfigKind) -> int:
    """Fence sets (GeoJSON, CSV) may be larger than the hand-written YAML configs."""
    return MAX_FENCE_SET_BYTES if kind == "geofences" else MAX_CONFIG_BYTES


class KindLoader(Protocol):
    """Loads one kind of config file (campaigns and segments, surveys, fence sets)."""

    def load_object(self, key: str, body: bytes, s3_version_id: str | None) -> LoadOutcome: ...

    def object_removed(self, key: str) -> LoadOutcome: ...


@dataclass
class ConfigLoader:
    objects: ConfigObjects
    loaders: Mapping[ConfigKind, KindLoader]
    errors: LoadErrors
    clock: Clock
    default: ConfigKind = "campaign"  # keys of no known kind: recorded as that loader's error

    def handle(self, event_name: str, bucket: str, key: str, version_id: str | None) -> LoadOutcome:
        parsed = parse_key(key)
        kind = parsed[0] if parsed is not None else self.default
        loader = self.loaders[kind]
        current = self.objects.current_version(bucket, key)
        if event_name.startswith("ObjectRemoved"):
            if current is not None:  # uploaded again since: that upload has its own event
                return LoadOutcome(key, "superseded")
            outcome = loader.object_removed(key)
        else:
            if current is None or (version_id and current != version_id):
                return LoadOutcome(key, "superseded")
            try:
                body = self.objects.read(bucket, key, version_id, max_object_bytes(kind))
            except ObjectTooLarge:
                now = int(self.clock.now().timestamp())
                problems = too_large(key, max_object_bytes(kind)).problems
                return reject(self.errors, key, problems, "", now, version_id)
            if body is None:
                return LoadOutcome(key, "superseded")
            outcome = loader.load_object(key, body, version_id)
        return outcome
