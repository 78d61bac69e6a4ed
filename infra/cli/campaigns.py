"""`nudge campaign ...` and `nudge segments push`: campaign configs and named segments."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from nudge_cli.admin import admin_call, admin_call_optional
from nudge_cli.configs import (
    Checked,
    ConfigKind,
    add_validate_push,
    checked_text,
    move_status,
    read_text,
)
from nudge_cli.printers import print_campaign_list, print_estimate, print_json, show


class CampaignKind(ConfigKind):
    """campaigns/<id>.yaml, checked against --segments when given."""

    def parse(
        self, path: str, segments: dict[str, Any] | None, args: argparse.Namespace
    ) -> Checked:
        from nudge.services.campaigns.configs import check_campaign_text

        text = read_text(path)
        campaign = check_campaign_text(text, path, segments)
        return checked_text(path, campaign, f"campaigns/{campaign.id}.yaml", text)

    def status_row(self, args: argparse.Namespace, item: Checked) -> dict[str, Any] | None:
        return admin_call_optional(args, "GET", f"/admin/v1/campaigns/{quote(item.config.id)}")

    def valid_line(self, item: Checked) -> str:
        return f"✓ {item.path}: campaign {item.config.id!r} is valid"

    def live_line(self, item: Checked, version: int | None) -> str:
        return f"{item.path}: campaign {item.config.id!r} is live as version {version}"


class SegmentsKind(ConfigKind):
    """segments/<file name>.yaml: named segments that campaigns and surveys refer to."""

    keeps_previous = False

    def parse(
        self, path: str, segments: dict[str, Any] | None, args: argparse.Namespace
    ) -> Checked:
        from nudge.configfiles import load_config
        from nudge.models.segment import NamedSegments

        name = Path(path).stem
        if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]{0,63}", name):
            raise SystemExit(f"{path}: name the file like segments-name.yaml (a-z, 0-9, - and _)")
        text = read_text(path)
        load_config(text, NamedSegments, path)
        return checked_text(path, name, f"segments/{name}.yaml", text)

    def status_row(self, args: argparse.Namespace, item: Checked) -> dict[str, Any] | None:
        row = admin_call_optional(args, "GET", "/admin/v1/segments")
        rows = (row or {}).get("segments", [])
        return next((r for r in rows if r["sha256"] == item.digest), row)

    def live_line(self, item: Checked, version: int | None) -> str:
        return f"{item.path}: segments {item.config!r} are live as version {version}"

    def rejected_header(self, item: Checked, bucket: str) -> str:
        return f"{item.path}: not loaded:"


CAMPAIGNS = CampaignKind()
SEGMENTS = SegmentsKind()


def list_campaigns(args: argparse.Namespace) -> int:
    rows = admin_call(args, "GET", "/admin/v1/campaigns")["campaigns"]
    show(rows, args.json, print_campaign_list)
    return 0


def show_campaign(args: argparse.Namespace) -> int:
    print_json(admin_call(args, "GET", f"/admin/v1/campaigns/{quote(args.id)}"))
    return 0


def set_status(args: argparse.Namespace) -> int:
    return move_status(args, "campaign", "campaigns", args.campaign_action)


def restore(args: argparse.Namespace) -> int:
    done = admin_call(
        args, "POST", f"/admin/v1/campaigns/{quote(args.id)}/restore", {"version": args.version}
    )
    print(f"campaign {done['id']!r}: version {args.version} restored as version {done['version']}")
    return 0


def unpromote(args: argparse.Namespace) -> int:
    """End auto_promote's promotion: the variants are split as configured again."""
    done = admin_call(args, "DELETE", f"/admin/v1/campaigns/{quote(args.id)}/promotion")
    promotion = done["promotion"]
    if promotion is None:
        print(f"campaign {done['id']!r} was never promoted: its variants are split as configured")
    else:
        print(
            f"campaign {done['id']!r}: promotion of {promotion['variant']!r} ended "
            f"({promotion['ended_by']}); the variants are split as configured again"
        )
    return 0


def preview(args: argparse.Namespace) -> int:
    body = {"yaml": read_text(args.file), "user_id": args.user}
    print_json(admin_call(args, "POST", "/admin/v1/campaigns/preview", body))
    return 0


def estimate(args: argparse.Namespace) -> int:
    body = {"yaml": read_text(args.file)}
    show(admin_call(args, "POST", "/admin/v1/campaigns/estimate", body), args.json, print_estimate)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    campaign = sub.add_parser("campaign", help="campaign configs").add_subparsers(
        dest="campaign_action", required=True
    )
    add_validate_push(campaign, CAMPAIGNS)
    p = campaign.add_parser("list", help="every campaign")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=list_campaigns)
    p = campaign.add_parser("show", help="one campaign, every version")
    p.add_argument("id")
    p.set_defaults(func=show_campaign)
    for action in ("pause", "resume", "archive"):
        p = campaign.add_parser(action, help=f"{action} a campaign")
        p.add_argument("id")
        p.set_defaults(func=set_status)
    p = campaign.add_parser("restore", help="make an earlier version current again")
    p.add_argument("id")
    p.add_argument("--version", type=int, required=True)
    p.set_defaults(func=restore)
    p = campaign.add_parser(
        "unpromote", help="revert auto_promote: split traffic between the variants again"
    )
    p.add_argument("id")
    p.set_defaults(func=unpromote)
    p = campaign.add_parser("preview", help="what it would do for one user now")
    p.add_argument("file")
    p.add_argument("--user", required=True)
    p.set_defaults(func=preview)
    p = campaign.add_parser("estimate", help="audience size (sampled)")
    p.add_argument("file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=estimate)
    segments = sub.add_parser("segments", help="named segments").add_subparsers(
        dest="segments_action", required=True
    )
    p = segments.add_parser("push", help="publish segments/<file name>.yaml")
    p.add_argument("file")
    p.add_argument("--bucket", help="the configs bucket (default: the local stack's)")
    p.set_defaults(func=SEGMENTS.push_command)
