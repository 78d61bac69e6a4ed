"""config_loader's use case: an S3 upload or deletion of a config file becomes a new version,
an archive, or a load error recorded on the object key (never an exception of the function).

Events may arrive out of order: an event for a version that is no longer the object's current
one is skipped (the newer upload, or the deletion, has its own event). AWS failures raise, so
S3's asynchronous retries and the DLQ apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from nudge.models.configs import ConfigKind, parse_key
from nudge.services.configs.loading import LoadOutcome


class ConfigObjects(Protocol):
    """Where marketers upload config files (the configs bucket)."""

    def current_version(self, bucket: str, key: str) -> str | None: ...

    def read(self, bucket: str, key: str, version_id: str | None) -> bytes | None: ...


class KindLoader(Protocol):
    """Loads one kind of config file (campaigns and segments, surveys, fence sets)."""

    def load_object(self, key: str, body: bytes, s3_version_id: str | None) -> LoadOutcome: ...

    def object_removed(self, key: str) -> LoadOutcome: ...


@dataclass
class ConfigLoader:
    objects: ConfigObjects
    loaders: Mapping[ConfigKind, KindLoader]
    default: ConfigKind = "campaign"  # keys of no known kind: recorded as that loader's error

    def handle(self, event_name: str, bucket: str, key: str, version_id: str | None) -> LoadOutcome:
        parsed = parse_key(key)
        loader = self.loaders[parsed[0] if parsed is not None else self.default]
        current = self.objects.current_version(bucket, key)
        if event_name.startswith("ObjectRemoved"):
            if current is not None:  # uploaded again since: that upload has its own event
                return LoadOutcome(key, "superseded")
            outcome = loader.object_removed(key)
        else:
            if current is None or (version_id and current != version_id):
                return LoadOutcome(key, "superseded")
            body = self.objects.read(bucket, key, version_id)
            if body is None:
                return LoadOutcome(key, "superseded")
            outcome = loader.load_object(key, body, version_id)
        return outcome
