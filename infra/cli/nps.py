"""`nudge nps report|export SURVEY`: NPS trend, breakdown and themes, or the answers as CSV."""

from __future__ import annotations

import argparse
from pathlib import Path
from urllib.parse import quote, urlencode

from nudge_cli.admin import admin_call, admin_raw
from nudge_cli.printers import print_nps, show


def report(args: argparse.Namespace) -> int:
    query = {"period": args.period, "since": args.since}
    if args.by:
        query["by"] = args.by
    path = f"/admin/v1/reports/nps/{quote(args.survey)}?{urlencode(query)}"
    answer = admin_call(args, "GET", path)
    show(answer, args.json, lambda report: print_nps(report, show_priorities=args.priorities))
    return 0


def export(args: argparse.Namespace) -> int:
    query = {"since": args.since}
    if args.include_user_id:
        query["include_user_id"] = "true"
    path = f"/admin/v1/surveys/{quote(args.survey)}/responses.csv?{urlencode(query)}"
    data = admin_raw(args, "GET", path)
    Path(args.out).write_bytes(data)
    rows = max(0, data.count(b"\r\n") - 1)
    print(f"wrote {rows} responses to {args.out}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    nps = sub.add_parser("nps", help="NPS reports").add_subparsers(dest="nps_action", required=True)
    p = nps.add_parser("report", help="trend, breakdown and comment themes")
    p.add_argument("survey")
    p.add_argument("--period", choices=["weekly", "daily"], default="weekly")
    p.add_argument("--by", choices=["lifecycle", "platform", "app_version", "country"])
    p.add_argument("--since", default="30d", help="e.g. 30d, 90d (max 730d)")
    p.add_argument(
        "--priorities", action="store_true", help="themes ranked by what they cost the score"
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=report)
    p = nps.add_parser("export", help="the answers as CSV")
    p.add_argument("survey")
    p.add_argument("--out", required=True)
    p.add_argument("--since", default="90d")
    p.add_argument("--include-user-id", action="store_true")
    p.set_defaults(func=export)
