"""`nudge import pinpoint-endpoints PATH...`: a Pinpoint endpoint export into Nudge's tables.

PATH: export files (gzip or plain, newline-delimited EndpointResponse JSON), folders of them,
or `s3://bucket/prefix` (every object under it). The tables are the local stack's, or with
--api-url / NUDGE_API_URL the deployed stack's, named by --profiles-table, --devices-table
and --history-table (or NUDGE_PROFILES_TABLE, ...: the stack's *TableName outputs), written
with your AWS credentials. A bad line is reported (file, line, reason) and the rest goes on;
re-running the same command changes nothing that is already imported, so it also resumes an
import that stopped. See docs/migrate-from-pinpoint.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from nudge.adapters.metering import WriteMeter
from nudge.clock import Clock, SystemClock, to_epoch
from nudge.domain.migration.pinpoint_endpoints import (
    MAX_ENDPOINTS_PER_USER,
    EndpointResponse,
    parse_endpoint,
    plan_users,
)
from nudge.services.migration.pinpoint_endpoints import EndpointImporter, ImportTotals
from nudge_cli.pinpoint_sources import CountingReader, Part, find_parts, lines

CHUNK = 1000  # endpoints grouped by user and written together (bounded memory)
MAX_REJECTED = 10_000  # reported in full up to here; counted beyond


@dataclass
class ImportReport:
    endpoints: int = 0
    users: set[str] = field(default_factory=set)
    opted_out: set[str] = field(default_factory=set)
    totals: ImportTotals = field(default_factory=ImportTotals)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    rejected_count: int = 0
    stopped: str | None = None
    seconds: float = 0.0
    write_units: int = 0

    def reject(self, file: str, line: int, error: str) -> None:
        self.rejected_count += 1
        if len(self.rejected) < MAX_REJECTED:
            self.rejected.append({"file": file, "line": line, "error": error})

    def as_json(self) -> dict[str, Any]:
        t = self.totals
        return {
            "endpoints": self.endpoints,
            "users": len(self.users),
            "devices": t.devices,
            "needs_reregistration": t.needs_reregistration,
            "opted_out": len(self.opted_out),
            "rejected": self.rejected,
            "rejected_count": self.rejected_count,
            "skipped": dict(sorted(t.skipped.items())),
            "erased_users_left_out": t.erased_users,
            "attributes_dropped": t.attributes_dropped,
            "written": {
                "profiles": t.profiles_written,
                "devices": t.devices_written,
                "preferences": t.preferences_written,
                "write_units": self.write_units,
            },
            "seconds": round(self.seconds, 3),
            "stopped": self.stopped,
        }


class Progress:
    """One stderr line: rewritten in place on a terminal, a line per chunk elsewhere."""

    def __init__(self, total_bytes: int, stream: TextIO | None = None) -> None:
        self.total = max(total_bytes, 1)
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self.tty = self.stream.isatty()

    def show(self, done_bytes: int, report: ImportReport, part: str) -> None:
        share = min(done_bytes / self.total, 1.0)
        bar = "#" * int(share * 30)
        rate = report.endpoints / max(time.monotonic() - self.started, 1e-6)
        text = (
            f"[{bar:<30}] {share:4.0%} {report.endpoints} endpoints, {len(report.users)} users,"
            f" {report.rejected_count} rejected, {rate:,.0f}/s  {Path(part).name}"
        )
        self.stream.write(f"\r{text}" if self.tty else f"{text}\n")
        self.stream.flush()

    def end(self) -> None:
        if self.tty:
            self.stream.write("\n")


def run_import(
    parts: Sequence[Part],
    importer: EndpointImporter,
    meter: WriteMeter,
    progress: Progress | None = None,
    chunk: int = CHUNK,
) -> ImportReport:
    """Read every part, a chunk of endpoints at a time; stop (report.stopped) only when the
    tables fail, never on bad input."""
    report = ImportReport()
    per_user: dict[str, set[str]] = {}
    units_before = meter.total
    started = time.monotonic()
    done_bytes = 0
    pending: list[EndpointResponse] = []
    where = ""
    try:
        for part in parts:
            counter = CountingReader(part.open())
            for number, line in _read(part, counter, report):
                where = f"{part.name}:{number}"
                endpoint = _accept(part.name, number, line, per_user, report)
                if endpoint is None:
                    continue
                pending.append(endpoint)
                if len(pending) >= chunk:
                    _flush(pending, importer, report)
                    if progress:
                        progress.show(done_bytes + counter.count, report, part.name)
            done_bytes += part.size
            if pending:
                _flush(pending, importer, report)
            if progress:
                progress.show(done_bytes, report, part.name)
    except Exception as error:  # the tables or the network: re-running resumes
        report.stopped = f"stopped near {where or 'the start'}: {type(error).__name__}: {error}"
    except KeyboardInterrupt:
        report.stopped = f"interrupted near {where or 'the start'}"
    finally:
        if progress:
            progress.end()
    report.seconds = time.monotonic() - started
    report.write_units = meter.total - units_before
    return report


def _read(part: Part, counter: CountingReader, report: ImportReport) -> Iterator[tuple[int, bytes]]:
    """The part's lines; a part that is not readable (a broken gzip) is reported, not fatal."""
    number = 0
    try:
        for number, line in lines(part, counter):
            yield number, line
    except (OSError, EOFError) as error:  # gzip.BadGzipFile is an OSError
        report.reject(part.name, number + 1, f"unreadable from here on: {error}")


def _accept(
    file: str, number: int, line: bytes, per_user: dict[str, set[str]], report: ImportReport
) -> EndpointResponse | None:
    try:
        endpoint = parse_endpoint(line)
    except ValueError as error:
        report.reject(file, number, str(error))
        return None
    ids = per_user.setdefault(endpoint.user_id, set())
    if endpoint.id not in ids and len(ids) >= MAX_ENDPOINTS_PER_USER:
        report.reject(
            file,
            number,
            f"User.UserId: more than {MAX_ENDPOINTS_PER_USER} endpoints for this user "
            "(Pinpoint's limit); this one is left out",
        )
        return None
    ids.add(endpoint.id)
    report.endpoints += 1
    return endpoint


def _flush(
    pending: list[EndpointResponse], importer: EndpointImporter, report: ImportReport
) -> None:
    plans = plan_users(pending, to_epoch(importer.clock.now()))
    report.totals.add(importer.import_users(plans))
    report.users.update(plan.user_id for plan in plans)
    report.opted_out.update(plan.user_id for plan in plans if plan.opted_out)
    pending.clear()


def summary_lines(report: ImportReport) -> list[str]:
    data = report.as_json()
    written = data["written"]
    out = [
        f"{data['endpoints']} endpoints of {data['users']} users imported "
        f"in {data['seconds']:.1f} s",
        f"  devices (FCM tokens):            {data['devices']}",
        f"  iOS endpoints to re-register:    {data['needs_reregistration']}",
        f"  users opted out of everything:   {data['opted_out']}",
        f"  written: {written['profiles']} profiles, {written['devices']} devices, "
        f"{written['preferences']} preferences ({written['write_units']} write units)",
    ]
    if data["erased_users_left_out"]:
        out.append(f"  erased users left out:           {data['erased_users_left_out']}")
    if data["attributes_dropped"]:
        out.append(f"  attributes over the 30 cap:      {data['attributes_dropped']}")
    for reason, count in data["skipped"].items():
        out.append(f"  skipped {count} endpoints: {reason}")
    out.append(f"  rejected lines: {data['rejected_count']}")
    out.extend(f"    {r['file']}:{r['line']}: {r['error']}" for r in report.rejected[:50])
    if report.rejected_count > 50:
        out.append(f"    ... {report.rejected_count - 50} more (--json lists them)")
    if report.stopped:
        out.append(f"{report.stopped}\nrun the same command again to resume")
    return out


# --- the command ------------------------------------------------------------------------


def build_importer(args: argparse.Namespace, meter: WriteMeter, clock: Clock) -> EndpointImporter:
    """The stores over the local stack's tables, or the deployed stack's (named tables)."""
    import boto3

    from nudge.adapters.devices import DynamoDeviceStore
    from nudge.adapters.dynamodb import DynamoProfileStore
    from nudge.settings import Settings

    try:  # the history store's module since the history layout change
        from nudge.adapters.history import DynamoHistoryStore
    except ImportError:  # pragma: no cover - before it
        from nudge.adapters.dynamodb import DynamoHistoryStore  # type: ignore[attr-defined,no-redef,unused-ignore]

    settings = Settings.from_environment()
    if args.api_url or os.environ.get("NUDGE_API_URL") or args.profiles_table:
        names = {}
        for kind in ("profiles", "devices", "history"):
            option = getattr(args, f"{kind}_table") or os.environ.get(f"NUDGE_{kind.upper()}_TABLE")
            if not option:
                raise SystemExit(
                    f"give --{kind}-table (or NUDGE_{kind.upper()}_TABLE): the stack's "
                    f"{kind.capitalize()}TableName output"
                )
            names[kind] = option
        ddb = boto3.session.Session().client("dynamodb")
    else:
        state_file = Path(args.state_dir) / "local.json"
        if not state_file.exists():
            raise SystemExit("give --api-url and the table names, or start the local stack")
        state = json.loads(state_file.read_text())
        session = boto3.session.Session(
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's, local only
            region_name=state["region"],
        )
        ddb = session.client("dynamodb", endpoint_url=state["moto_url"])
        tables = state["tables"]
        names = {k: tables[f"{k.capitalize()}Table"] for k in ("profiles", "devices", "history")}
    return EndpointImporter(
        profiles=DynamoProfileStore(names["profiles"], meter, ddb),
        devices=DynamoDeviceStore(names["devices"], meter, ddb),
        history=DynamoHistoryStore(names["history"], meter, ddb),
        config=settings.engagement,
        clock=clock,
    )


def import_endpoints(
    args: argparse.Namespace,
    importer_factory: Callable[[argparse.Namespace, WriteMeter, Clock], EndpointImporter]
    | None = None,
) -> int:
    import boto3

    meter = WriteMeter()
    importer = (importer_factory or build_importer)(args, meter, SystemClock())
    try:
        parts = find_parts(args.paths, lambda: boto3.session.Session().client("s3"))
    except SystemExit:
        raise
    except Exception as error:  # S3 refused the listing (no bucket, no access)
        raise SystemExit(f"cannot list the export: {type(error).__name__}: {error}") from None
    progress = None if args.no_progress else Progress(sum(p.size for p in parts))
    report = run_import(parts, importer, meter, progress)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        print("\n".join(summary_lines(report)))
    return 1 if report.stopped else 0


def add_import_command(imports: argparse._SubParsersAction) -> None:
    p = imports.add_parser(
        "pinpoint-endpoints", help="a Pinpoint endpoint export: users, devices, consent"
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or s3://bucket/prefix")
    p.add_argument("--json", action="store_true", help="the summary as one JSON object")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    for kind in ("profiles", "devices", "history"):
        p.add_argument(f"--{kind}-table", help=f"the deployed stack's {kind} table")
    p.set_defaults(func=import_endpoints)
