"""`nudge report regions CAMPAIGN` (or `--category marketing`): open, conversion and opt-out
rates by country, region, city, stage, platform or named segment, ranked, each with its 95 %
interval; values with too few sends are listed apart as "too little data"
(GET /admin/v1/reports/campaigns/{id}/breakdown, /admin/v1/reports/categories/{c}/breakdown)."""

from __future__ import annotations

import argparse
from typing import Any
from urllib.parse import quote, urlencode

from nudge_cli.admin import admin_call
from nudge_cli.printers import show

DIMENSIONS = ("country", "region", "city", "stage", "platform", "segment")
RANKS = ("conversion", "open", "opt_out")


def breakdown_path(
    campaign: str | None, category: str | None, by: str, days: int, rank_by: str
) -> str:
    query = urlencode({"by": by, "days": days, "rank_by": rank_by})
    if category:
        return f"/admin/v1/reports/categories/{quote(category, safe='')}/breakdown?{query}"
    return f"/admin/v1/reports/campaigns/{quote(campaign or '', safe='')}/breakdown?{query}"


def _rate(rate: dict[str, Any]) -> str:
    """'12.5% (9.6-16.1)': never a bare percentage; 'n/a' without a denominator."""
    if rate.get("pct") is None:
        return "n/a"
    low, high = rate["ci_pct"]
    return f"{rate['pct']:.1f}% ({low:.1f}-{high:.1f})"


def print_breakdown(report: dict[str, Any]) -> None:
    scope = (
        f"campaign {report['campaign']}"
        if report.get("campaign")
        else f"category {report['category']} ({', '.join(report.get('campaigns') or [])})"
    )
    print(
        f"Response by {report['by']}, {scope}, {report['start']} to {report['end']} "
        f"(ranked by {report['rank_by'].replace('_', '-')}: the low end of its 95 % interval; "
        f"fewer than {report['min_group']} sends is too little data)"
    )
    rows = report["rows"]
    if not rows:
        print("\nNo sends in this period.")
        return
    print(
        f"\n{'#':>3}  {report['by']:<24}{'sent':>7}  {'open':<22}{'conversion':<22}"
        f"{'opt-out':<22}holdout conv."
    )
    ranked = [r for r in rows if r["enough_data"]]
    for place, row in enumerate(ranked, 1):
        print(
            f"{place:>3}  {row['value'][:23]:<24}{row['sent']:>7}  {_rate(row['open']):<22}"
            f"{_rate(row['conversion']):<22}{_rate(row['opt_out']):<22}"
            f"{_rate(row['holdout_conversion'])}"
        )
    small = [r for r in rows if not r["enough_data"]]
    if small:
        print("\ntoo little data (not ranked):")
        for row in small:
            print(f"     {row['value'][:23]:<24}{row['sent']:>7} sent, {row['holdout']} holdout")


def show_regions(args: argparse.Namespace) -> int:
    from nudge_cli.reports import parse_days

    if args.model or args.metric:  # the regional response model of a category
        from nudge_cli.regional_model_report import model_path, print_model

        if not args.category or args.campaign_id:
            raise SystemExit("report regions --model: give --category (the model is per category)")
        answer = admin_call(args, "GET", model_path(args.category, args.metric))
        show(answer, args.json, print_model)
        return 0
    if bool(args.campaign_id) == bool(args.category):
        raise SystemExit("report regions: give a CAMPAIGN or --category, not both or neither")
    days = parse_days(args.since) if args.since else parse_days(str(args.days), "--days")
    path = breakdown_path(args.campaign_id, args.category, args.by, days, args.rank_by)
    show(admin_call(args, "GET", path), args.json, print_breakdown)
    return 0


def add_regions(report: argparse._SubParsersAction) -> None:
    regions = report.add_parser(
        "regions", help="rates by country, region, stage, platform or segment, with intervals"
    )
    regions.add_argument("campaign_id", nargs="?", help="a campaign id (or use --category)")
    regions.add_argument("--category", help="every campaign of this category, summed")
    regions.add_argument("--by", choices=DIMENSIONS, default="country")
    regions.add_argument("--rank-by", choices=RANKS, default="conversion", dest="rank_by")
    regions.add_argument("--days", type=int, default=30)
    regions.add_argument("--since", help="e.g. 30d (overrides --days)")
    regions.add_argument("--json", action="store_true")
    regions.add_argument(
        "--model",
        action="store_true",
        help="with --category: the regional response model (predicted rates, better/worse)",
    )
    regions.add_argument("--metric", choices=RANKS, help="the model's metric (implies --model)")
    regions.set_defaults(func=show_regions)
