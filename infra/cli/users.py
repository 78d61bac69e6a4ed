"""`nudge user export|erase USER_ID`: a user's data, through the admin API."""

from __future__ import annotations

import argparse
from urllib.parse import quote

from nudge_cli.admin import admin_call
from nudge_cli.printers import print_json


def user_data(args: argparse.Namespace) -> int:
    method = "GET" if args.action == "export" else "DELETE"
    print_json(admin_call(args, method, f"/admin/v1/users/{quote(args.user_id, safe='')}"))
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    user = sub.add_parser("user", help="a user's data").add_subparsers(dest="action", required=True)
    for action in ("export", "erase"):
        p = user.add_parser(action)
        p.add_argument("user_id")
        p.set_defaults(func=user_data)
