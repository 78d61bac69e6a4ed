"""The parts of a Pinpoint export, read line by line: local files and folders, or every object
under `s3://bucket/prefix`; gzip (by name or by its magic bytes) or plain."""

from __future__ import annotations

import gzip
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class Part:
    """One file of the export: its name in reports, its size, how to open its bytes."""

    name: str
    size: int
    open: Callable[[], IO[bytes]]


class CountingReader(io.RawIOBase):
    """Counts the (compressed) bytes read from a stream: the progress of a part."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.stream.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)

    def close(self) -> None:
        self.stream.close()
        super().close()


def lines(part: Part, reader: CountingReader | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number from 1, the line without its newline), blank lines left out."""
    counting = reader or CountingReader(part.open())
    with io.BufferedReader(counting) as buffered:
        stream: IO[bytes] | gzip.GzipFile = buffered
        if buffered.peek(2)[:2] == GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=buffered)
        for number, line in enumerate(stream, start=1):
            text = line.rstrip(b"\r\n")
            if text.strip():
                yield number, text


def find_parts(paths: list[str], s3: Callable[[], Any]) -> list[Part]:
    """Every part named: files, the files under folders (sorted), every object under an S3
    prefix (ListObjectsV2, page by page). SystemExit naming a path that holds nothing."""
    parts: list[Part] = []
    for path in paths:
        found = _s3_parts(path, s3()) if path.startswith("s3://") else _local_parts(path)
        if not found:
            raise SystemExit(f"{path}: no export files there")
        parts.extend(found)
    return parts


def _local_parts(path: str) -> list[Part]:
    root = Path(path)
    if not root.exists():
        raise SystemExit(f"{path}: no such file or folder")
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    return [
        Part(str(f), f.stat().st_size, lambda f=f: f.open("rb"))  # type: ignore[misc]
        for f in files
        if not f.name.startswith(".")
    ]


def _s3_parts(url: str, s3: Any) -> list[Part]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    if not bucket:
        raise SystemExit(f"{url}: use s3://bucket/prefix")
    parts = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/") or not item.get("Size"):
                continue  # folder markers and empty objects

            def open_object(key: str = key) -> IO[bytes]:
                body: IO[bytes] = s3.get_object(Bucket=bucket, Key=key)["Body"]
                return body

            parts.append(Part(f"s3://{bucket}/{key}", int(item["Size"]), open_object))
    return parts
