"""S3 event notifications with S3's own shape, and a bucket watcher that emits them locally.

moto's server does not invoke Lambda on uploads, so the stack lists each notifying bucket
(about every half second) and, for every new, changed or deleted key that a template
`Type: S3` event source matches, invokes its function with a real-shaped event.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

from nudge_local.resources import REGION

if TYPE_CHECKING:
    from nudge_local.template import S3Source

log = logging.getLogger("devstack.s3")
_sequence = itertools.count(1)


def s3_event(
    event_name: str, bucket: str, key: str, version_id: str | None, size: int, etag: str = ""
) -> dict[str, Any]:
    """One S3 notification record (`ObjectCreated:Put`, `ObjectRemoved:Delete`...)."""
    obj: dict[str, Any] = {
        "key": quote_plus(key, safe="/"),
        "sequencer": f"{time.time_ns():016X}{next(_sequence):04X}",
    }
    if event_name.startswith("ObjectCreated"):
        obj.update(size=size, eTag=etag)
    if version_id:
        obj["versionId"] = version_id
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
                "eventName": event_name,
                "userIdentity": {"principalId": "AWS:local"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {"x-amz-request-id": "local", "x-amz-id-2": "local"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "local",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "local"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": obj,
                },
            }
        ]
    }


class S3Watcher(threading.Thread):
    """Emulates a bucket's notification configuration for the template's S3 event sources."""

    def __init__(
        self,
        bucket: str,
        sources: list[S3Source],
        functions: dict[str, Any],
        s3: Any,
        stop: threading.Event,
        interval_s: float = 0.5,
    ) -> None:
        super().__init__(name=f"s3-{bucket}", daemon=True)
        self.bucket = bucket
        self.sources = sources
        self.functions = functions
        self.s3 = s3
        self.stop_event = stop
        self.interval_s = interval_s
        self.known: dict[str, tuple[str, str, int]] = {}  # key -> (version id, etag, size)
        self.lock = threading.Lock()
        self.events = 0
        self.errors = 0

    def listing(self) -> dict[str, tuple[str, str, int]]:
        found: dict[str, tuple[str, str, int]] = {}
        paginator = self.s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self.bucket):
            for version in page.get("Versions", []):
                if version.get("IsLatest"):
                    found[version["Key"]] = (
                        str(version.get("VersionId") or "null"),
                        str(version.get("ETag", "")),
                        int(version.get("Size", 0)),
                    )
        return found

    def sync(self) -> int:
        """Emit events for what changed since the last listing; how many were emitted."""
        with self.lock:
            now = self.listing()
            emitted = 0
            for key, (version, etag, size) in sorted(now.items()):
                if self.known.get(key) != (version, etag, size):
                    emitted += self._emit("ObjectCreated:Put", key, version, size, etag)
            for key in sorted(set(self.known) - set(now)):
                emitted += self._emit("ObjectRemoved:DeleteMarkerCreated", key, None, 0)
            self.known = now
            return emitted

    def settled(self) -> bool:
        """Nothing uploaded or deleted that has not been delivered yet."""
        return self.sync() == 0

    def _emit(self, name: str, key: str, version: str | None, size: int, etag: str = "") -> int:
        emitted = 0
        for source in self.sources:
            if not source.matches(key, f"s3:{name}"):
                continue
            event = s3_event(name, self.bucket, key, version, size, etag.strip('"'))
            self.events += 1
            emitted += 1
            try:  # an async invoke: a failure is retried twice, then dropped (logged)
                for attempt in range(3):
                    try:
                        self.functions[source.function].invoke(event)
                        break
                    except Exception:
                        if attempt == 2:
                            raise
                        time.sleep(0.2)
            except Exception:
                self.errors += 1
                log.exception("%s failed for s3://%s/%s", source.function, self.bucket, key)
        return emitted

    def run(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            try:
                self.sync()
            except Exception:
                log.exception("watching bucket %s failed; continuing", self.bucket)
