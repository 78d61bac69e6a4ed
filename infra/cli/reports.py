"""`nudge report ...`: lifecycle, campaigns, one campaign, sunset advice, segment health, and
the HTML report."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

from nudge_cli.admin import admin_call
from nudge_cli.printers import (
    print_campaign,
    print_campaigns_and_engagement,
    print_lifecycle,
    print_sunset,
    show,
)
from nudge_cli.region_report import add_regions
from nudge_cli.segment_report import print_segments


def parse_days(text: str, option: str = "--since") -> int:
    """'30d' (or '30') -> 30; anything else is a clear usage error naming the option."""
    value = text.strip().lower().removesuffix("d")
    if not value.isdigit() or not 1 <= int(value) <= 400:
        raise SystemExit(f"{option}: use a number of days from 1 to 400, e.g. 30d (got {text!r})")
    return int(value)


def _days(args: argparse.Namespace) -> int:
    since = getattr(args, "since", None)
    return parse_days(since) if since else int(args.days)


def _path(args: argparse.Namespace, days: int) -> str:
    if args.report == "campaign":
        return f"/admin/v1/reports/campaigns/{quote(args.campaign_id, safe='')}?days={days}"
    return f"/admin/v1/reports/{args.report}?days={days}"


def show_report(args: argparse.Namespace) -> int:
    """GET the report and print it (or its JSON) with the printer its subcommand set."""
    data = admin_call(args, "GET", _path(args, _days(args)))
    show(data, args.json, args.printer)
    return 0


def html_report(args: argparse.Namespace) -> int:
    from nudge_cli.report_html import write_report

    path = write_report(lambda p: admin_call(args, "GET", p), args.out, _days(args))
    print(f"wrote {path}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="reports").add_subparsers(dest="report", required=True)

    def add(name: str, text: str, printer: Callable[[Any], None]) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = report.add_parser(name, help=text)
        p.set_defaults(func=show_report, printer=printer)
        return p

    lifecycle = add("lifecycle", "users per lifecycle stage", print_lifecycle)
    lifecycle.add_argument("--days", type=int, default=30)
    lifecycle.add_argument("--json", action="store_true")
    campaigns = add(
        "campaigns", "funnel, rates and lift per campaign", print_campaigns_and_engagement
    )
    one = add("campaign", "one campaign in detail", print_campaign)
    one.add_argument("campaign_id")
    sunset = add("sunset", "campaigns and formats to retire, with evidence", print_sunset)
    segments = add("segments", "segment size trend, weekly response, alerts", print_segments)
    add_regions(report)
    html = report.add_parser("html", help="a self-contained HTML report with charts")
    html.add_argument("--out", required=True, help="e.g. report.html")
    html.set_defaults(func=html_report)
    windows = ((campaigns, 30), (one, 30), (sunset, 7), (segments, 90), (html, 30))
    for command, default in windows:
        command.add_argument("--days", type=int, default=default)
        command.add_argument("--since", help=f"e.g. {default}d (overrides --days)")
        command.add_argument("--json", action="store_true")
