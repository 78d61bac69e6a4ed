"""`nudge geofences ...`: fence sets (geofences/<set_id>.geojson or .csv)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from nudge_cli.admin import admin_call
from nudge_cli.configs import Checked, ConfigKind, checked_text, move_status, read_text
from nudge_cli.printers import print_fence_sets, print_nearby_fences, show

GEOFENCE_SUFFIXES = {".geojson": ".geojson", ".json": ".geojson", ".csv": ".csv"}


class FenceSetKind(ConfigKind):
    """A GeoJSON or CSV fence set; its id is --set-id or the file name."""

    list_command = "nudge geofences list"
    fail_fast = True

    def parse(
        self, path: str, segments: dict[str, Any] | None, args: argparse.Namespace
    ) -> Checked:
        from nudge.domain.geofencing.importing import load_fence_set_file

        fence_set = load_fence_set_file(path, set_id=args.set_id)
        suffix = GEOFENCE_SUFFIXES.get(Path(path).suffix.lower(), "")
        key = f"geofences/{fence_set.id}{suffix}"
        return checked_text(path, fence_set, key, read_text(path), fence_set.content_hash)

    def status_row(self, args: argparse.Namespace, item: Checked) -> dict[str, Any] | None:
        rows = admin_call(args, "GET", "/admin/v1/geofences")["sets"]
        return next((r for r in rows if r["id"] == item.config.id), None)

    def is_current(self, row: dict[str, Any], item: Checked) -> bool:
        return row.get("sha256") == item.digest and row.get("status") == "active"

    def valid_line(self, item: Checked) -> str:
        fence_set = item.config
        tags = sorted({tag for fence in fence_set.fences for tag in fence.tags})
        return (
            f"✓ {item.path}: fence set {fence_set.id!r} is valid: {len(fence_set.fences)} fences"
            + (f", tags {', '.join(tags)}" if tags else "")
        )

    def live_line(self, item: Checked, version: int | None) -> str:
        fence_set = item.config
        return (
            f"{item.path}: fence set {fence_set.id!r} ({len(fence_set.fences)} fences) is live "
            f"as version {version}"
        )

    def push_command(self, args: argparse.Namespace) -> int:
        if Path(args.file).suffix.lower() not in GEOFENCE_SUFFIXES:
            raise SystemExit(f"{args.file}: expected a .geojson, .json or .csv file")
        return super().push_command(args)


FENCE_SETS = FenceSetKind()


def list_sets(args: argparse.Namespace) -> int:
    show(admin_call(args, "GET", "/admin/v1/geofences")["sets"], args.json, print_fence_sets)
    return 0


def set_status(args: argparse.Namespace) -> int:
    return move_status(args, "fence set", "geofences", args.geofences_action)


def near(args: argparse.Namespace) -> int:
    query = {"lat": args.lat, "lng": args.lng, "platform": args.platform}
    if args.limit is not None:
        query["limit"] = args.limit
    result = admin_call(args, "GET", f"/admin/v1/geofences/near?{urlencode(query)}")
    show(result, args.json, print_nearby_fences)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    geofences = sub.add_parser("geofences", help="fence sets (GeoJSON or CSV)").add_subparsers(
        dest="geofences_action", required=True
    )
    p = geofences.add_parser("validate", help="check fence set files offline")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--set-id", help="default: the file name")
    p.set_defaults(func=FENCE_SETS.validate_command)
    p = geofences.add_parser("push", help="validate, upload to the configs bucket, wait")
    p.add_argument("file")
    p.add_argument("--set-id", help="default: the file name (lowercase)")
    p.add_argument("--bucket", help="the configs bucket (default: the local stack's)")
    p.set_defaults(func=FENCE_SETS.push_command)
    p = geofences.add_parser("list", help="every fence set")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=list_sets)
    for action in ("archive", "activate"):
        p = geofences.add_parser(action, help=f"{action} a fence set")
        p.add_argument("id")
        p.set_defaults(func=set_status)
    p = geofences.add_parser("near", help="the fences the app would monitor at a point")
    p.add_argument("--lat", type=float, required=True)
    p.add_argument("--lng", type=float, required=True)
    p.add_argument("--limit", type=int, help="default: the platform's most (20 / 100)")
    p.add_argument("--platform", choices=["ios", "android"], default="ios")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=near)
