"""`nudge user export|erase USER_ID`: a user's data, through the admin API.
`nudge user why USER_ID [--campaign ID] [--json]`: what was decided about each message."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

from nudge_cli.admin import admin_call
from nudge_cli.printers import print_json


def user_data(args: argparse.Namespace) -> int:
    method = "GET" if args.action == "export" else "DELETE"
    print_json(admin_call(args, method, f"/admin/v1/users/{quote(args.user_id, safe='')}"))
    return 0


def why_lines(answer: dict[str, Any]) -> list[str]:
    """The human form of GET /admin/v1/users/{id}/decisions: newest first, one line each."""
    scope = f" for {answer['campaign']}" if answer.get("campaign") else ""
    lines = [f"Decisions about {answer['user_id']}{scope}, newest first:"]
    for entry in answer["decisions"]:
        when = datetime.fromtimestamp(entry["at"], tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
        what = f"{entry['kind']} {entry['id'] or '-'}"
        if entry.get("variant"):
            what += f" ({entry['variant']})"
        device = f" [device {entry['device_id']}]" if entry.get("device_id") else ""
        lines.append(f"  {when}  {what:<32} {entry['stage']:<8} {entry['explanation']}{device}")
    if not answer["decisions"]:
        lines.append("  nothing recorded")
    lines.append(f"({answer['not_recorded']})")
    return lines


def user_why(args: argparse.Namespace) -> int:
    path = f"/admin/v1/users/{quote(args.user_id, safe='')}/decisions"
    if args.campaign:
        path += "?" + urlencode({"campaign": args.campaign})
    answer = admin_call(args, "GET", path)
    if args.json:
        print_json(answer)
    else:
        print("\n".join(why_lines(answer)))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    user = sub.add_parser("user", help="a user's data").add_subparsers(dest="action", required=True)
    for action in ("export", "erase"):
        p = user.add_parser(action)
        p.add_argument("user_id")
        p.set_defaults(func=user_data)
    why = user.add_parser("why", help="why a user did or did not get each message")
    why.add_argument("user_id")
    why.add_argument("--campaign", help="only this campaign (or broadcast) id")
    why.add_argument("--json", action="store_true", help="the admin API's answer as JSON")
    why.set_defaults(func=user_why)
