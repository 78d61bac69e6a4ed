"""One validate / push / wait flow for every config kind (campaigns, segments, surveys, fences).

A kind (a `ConfigKind` subclass, in campaigns.py, surveys.py and geofences.py) says how to parse
one of its files, where it goes in the configs bucket, where the admin API shows whether it was
loaded, and what to say; everything else happens here, the same way for every kind:

    validate  parse each file offline; located problems as `file: N problem(s)` then
              `  ✗ file:line: field: message` on stderr, exit 1 if any
    push      validate, upload to the configs bucket, then wait until the config loader has
              made that content current (`is live as version N`) or rejected it (its problems)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nudge_cli.printers import format_problem

PUSH_WAIT_S = 60.0  # a cold config_loader on a busy laptop can take a while


@dataclass(frozen=True)
class Checked:
    """A config file that passed offline validation."""

    path: str
    config: Any  # the parsed config: Campaign, SurveyConfig, FenceSet, or the segments' name
    key: str  # its object key in the configs bucket
    text: str
    digest: str  # the sha256 the admin API reports once this content is current
    raw_digest: str  # the sha256 of the file as uploaded (what load errors are keyed by)


def checked_text(path: str, config: Any, key: str, text: str, digest: str = "") -> Checked:
    """A Checked whose digests are the file's sha256 (unless the kind hashes content itself)."""
    raw_digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return Checked(path, config, key, text, digest or raw_digest, raw_digest)


class ConfigKind:
    """What differs between config kinds; the flow itself is validate_files / push_files."""

    list_command = "nudge campaign list"  # where to look when a push is not loaded in time
    fail_fast = False  # stop at the first bad file (printing ✓ as files pass) instead
    keeps_previous = True  # a rejected push leaves the previous version current (and says so)

    def parse(
        self, path: str, segments: dict[str, Any] | None, args: argparse.Namespace
    ) -> Checked:
        """Read and check one file; raises ConfigError with located problems."""
        raise NotImplementedError

    def status_row(self, args: argparse.Namespace, item: Checked) -> dict[str, Any] | None:
        """The admin API's row for this config (None: not known yet)."""
        raise NotImplementedError

    def is_current(self, row: dict[str, Any], item: Checked) -> bool:
        return bool(row.get("sha256") == item.digest)

    def valid_line(self, item: Checked) -> str:
        raise NotImplementedError

    def live_line(self, item: Checked, version: int | None) -> str:
        raise NotImplementedError

    def rejected_header(self, item: Checked, bucket: str) -> str:
        return f"{item.path}: uploaded to s3://{bucket}/{item.key} but not loaded:"

    # the subcommands, for set_defaults(func=...)
    def validate_command(self, args: argparse.Namespace) -> int:
        validate_files(self, args.files, args, announce=True)
        return 0

    def push_command(self, args: argparse.Namespace) -> int:
        return push_files(self, getattr(args, "files", None) or [args.file], args)


# --- the flow --------------------------------------------------------------------------------


FENCE_SET_SUFFIXES = (".geojson", ".json", ".csv")


def size_limit(path: str) -> int:
    """The most a file may hold: fence sets (GeoJSON, CSV) are allowed more than YAML."""
    from nudge.configfiles import MAX_CONFIG_BYTES, MAX_FENCE_SET_BYTES

    return MAX_FENCE_SET_BYTES if path.lower().endswith(FENCE_SET_SUFFIXES) else MAX_CONFIG_BYTES


def read_text(path: str) -> str:
    """The file's text, never more than its size limit read (exits with why it cannot be)."""
    from nudge.configfiles import ConfigError, read_config_file

    try:
        return read_config_file(path, size_limit(path))
    except ConfigError as error:
        raise SystemExit(str(error)) from error


def refuse_if_too_large(path: str) -> None:
    """Checked (with stat) before any kind reads the file, as a located problem."""
    from nudge.configfiles import too_large

    try:
        size = os.stat(path).st_size
    except OSError:
        return  # reading it will say why
    if size > size_limit(path):
        raise too_large(path, size_limit(path))


def print_problems(problems: list[Any]) -> None:
    for problem in problems:
        print(f"  ✗ {problem}", file=sys.stderr)


def segments_file(path: str | None) -> dict[str, Any] | None:
    """The named segments of --segments (None: not given); exits 1 if the file is invalid."""
    from nudge.configfiles import ConfigError, load_config
    from nudge.models.segment import NamedSegments

    if not path:
        return None
    try:
        return dict(load_config(read_text(path), NamedSegments, path).segments)
    except ConfigError as error:
        print(f"{path}: not valid", file=sys.stderr)
        print_problems(error.problems)
        raise SystemExit(1) from error


def check_file(
    kind: ConfigKind, path: str, segments: dict[str, Any] | None, args: argparse.Namespace
) -> Checked | None:
    """The checked file, or None after printing its located problems (file:line) to stderr."""
    from nudge.configfiles import ConfigError

    try:
        refuse_if_too_large(path)
        return kind.parse(path, segments, args)
    except ConfigError as error:
        print(f"{path}: {len(error.problems)} problem(s)", file=sys.stderr)
        print_problems(error.problems)
        return None


def validate_files(
    kind: ConfigKind, files: list[str], args: argparse.Namespace, announce: bool = False
) -> list[Checked]:
    """Every file checked offline; exits 1 after printing the problems of any bad one.

    `announce`: print a ✓ line per valid file: once all passed, or (fail-fast kinds) as each
    passes.
    """
    segments = segments_file(getattr(args, "segments", None))
    checked, failed = [], False
    for path in files:
        item = check_file(kind, path, segments, args)
        if item is None:
            failed = True
            if kind.fail_fast:
                break
            continue
        checked.append(item)
        if announce and kind.fail_fast:
            print(kind.valid_line(item))
    if failed:
        raise SystemExit(1)
    for item in checked if announce and not kind.fail_fast else []:
        print(kind.valid_line(item))
    return checked


def push_files(kind: ConfigKind, files: list[str], args: argparse.Namespace) -> int:
    """Validate, upload each file, wait for each to be loaded; 1 if any was rejected."""
    checked = validate_files(kind, files, args)
    s3, bucket = configs_bucket(args)
    failed = False
    for item in checked:
        s3.put_object(Bucket=bucket, Key=item.key, Body=item.text.encode("utf-8"))
        version, errors = wait_loaded(args, kind, item)
        if errors:
            failed = True
            print(kind.rejected_header(item, bucket), file=sys.stderr)
            for problem in errors:
                print(f"  ✗ {format_problem(problem)}", file=sys.stderr)
            if kind.keeps_previous:
                print("  the previous version stays current", file=sys.stderr)
        else:
            print(kind.live_line(item, version))
    return 1 if failed else 0


def wait_loaded(
    args: argparse.Namespace, kind: ConfigKind, item: Checked
) -> tuple[int | None, list[Any]]:
    """Poll the admin API until this content is current (its version) or was rejected."""
    deadline = time.monotonic() + PUSH_WAIT_S
    while True:
        row = kind.status_row(args, item)
        if isinstance(row, dict):
            if kind.is_current(row, item):
                return row["version"], []
            if row.get("errors_sha256") == item.raw_digest and row.get("errors"):
                return None, row["errors"]
        if time.monotonic() > deadline:
            raise SystemExit(
                f"not loaded within {PUSH_WAIT_S:.0f}s; check `{kind.list_command}` later"
            )
        time.sleep(0.3)


def configs_bucket(args: argparse.Namespace) -> tuple[Any, str]:
    """(s3 client, bucket): the local stack's moto bucket, or --bucket / NUDGE_CONFIGS_BUCKET."""
    import boto3

    bucket = args.bucket or os.environ.get("NUDGE_CONFIGS_BUCKET")
    if args.api_url or os.environ.get("NUDGE_API_URL"):
        if not bucket:
            raise SystemExit(
                "give --bucket (or NUDGE_CONFIGS_BUCKET): the stack's ConfigsBucketName"
            )
        return boto3.session.Session().client("s3"), bucket
    state_file = Path(args.state_dir) / "local.json"
    if not state_file.exists():
        raise SystemExit("give --api-url and --bucket, or start the local stack: make up")
    state = json.loads(state_file.read_text())
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's, local only
        region_name=state["region"],
    )
    s3 = session.client("s3", endpoint_url=state["moto_url"])
    return s3, bucket or state["buckets"]["ConfigsBucket"]


# --- the parser pieces every kind shares -----------------------------------------------------


def add_validate_push(sub: argparse._SubParsersAction, kind: ConfigKind) -> None:
    """`validate FILE... [--segments F]` and `push FILE... [--segments F] [--bucket B]`."""
    for action, text, func in (
        ("validate", "check files offline", kind.validate_command),
        ("push", "validate and publish", kind.push_command),
    ):
        p = sub.add_parser(action, help=text)
        p.add_argument("files", nargs="+", metavar="FILE")
        p.add_argument("--segments", help="a named segments file to check references against")
        p.add_argument("--bucket", help="the configs bucket (default: the local stack's)")
        p.set_defaults(func=func)


# what `nudge campaign|survey|geofences ACTION ID` asks the admin API to set
STATUS_OF_ACTION = {
    "pause": "paused",
    "resume": "active",
    "archive": "archived",
    "activate": "active",
}


def move_status(args: argparse.Namespace, noun: str, collection: str, action: str) -> int:
    """pause / resume / archive / activate one config through the admin API, and say so."""
    from urllib.parse import quote

    from nudge_cli.admin import admin_call

    done = admin_call(
        args,
        "POST",
        f"/admin/v1/{collection}/{quote(args.id)}/status",
        {"status": STATUS_OF_ACTION[action]},
    )
    print(f"{noun} {done['id']!r} is {done['status']} (version {done['version']})")
    return 0
