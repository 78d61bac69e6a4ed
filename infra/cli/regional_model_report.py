"""`nudge report regions --category marketing --model [--metric conversion]`: the regional
response model (GET /admin/v1/reports/regions): each region's predicted rate shrunk toward the
overall rate, with its 95 % interval, and the regions that respond better or worse than the rest.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode


def model_path(category: str, metric: str | None) -> str:
    query = {"category": category, **({"metric": metric} if metric else {})}
    return f"/admin/v1/reports/regions?{urlencode(query)}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _row(place: int | str, row: dict[str, Any]) -> str:
    interval = f"({100 * row['low']:.1f}-{100 * row['high']:.1f})"
    return (
        f"{place:>4}  {row['region'][:23]:<24}{row['sends']:>8}  {_pct(row['observed']):>8}  "
        f"{_pct(row['predicted']):>7} {interval:<14}{row['verdict']}"
    )


def print_model(report: dict[str, Any]) -> None:
    published = report.get("published_at")
    print(
        f"Regional response model, category {report['category']}, by {report['level']}, "
        f"{report['since']} to {report['until']} "
        f"({'last published at ' + str(published) if published else 'not published yet'})"
    )
    print(
        "predicted = the region's rate shrunk toward the overall rate (empirical Bayes); "
        "better / worse = its 95 % interval wholly above / below the overall rate"
    )
    for metric, fit in report["metrics"].items():
        print(
            f"\n{metric.replace('_', '-')}: overall {_pct(fit['overall'])} of {fit['sends']} sends"
        )
        if not fit["regions"]:
            print("  no sends in a known region in this period")
            continue
        print(f"{'#':>4}  {'region':<24}{'sends':>8}  {'observed':>8}  predicted (95 %)    verdict")
        for place, row in enumerate(fit["regions"], 1):
            print(_row(place, row))
        for label in ("better", "worse"):
            names = ", ".join(r["region"] for r in fit[label]) or "none"
            print(f"  {label} than the rest: {names}")
