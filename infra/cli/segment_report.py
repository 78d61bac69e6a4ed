"""`nudge report segments`: each named segment's size trend, its latest week's response with
intervals, and the alerts it raised (the admin API's GET /admin/v1/reports/segments)."""

from __future__ import annotations

from typing import Any


def _rate(rate: dict[str, Any]) -> str:
    """'31.0% (27.1-35.2)', or 'n/a' without a denominator: never a bare percentage."""
    if rate.get("pct") is None:
        return "n/a"
    low, high = rate["ci_pct"]
    return f"{rate['pct']:.1f}% ({low:.1f}-{high:.1f}, n={rate['n']})"


def _size(point: dict[str, Any] | None) -> str:
    if point is None:
        return "-"
    low, high = point["interval_95"]
    spread = "" if point["complete"] else f" ({low:,}-{high:,})"  # the sample's 95 %
    return f" {point['estimate']:,}{spread}"  # a space: columns never run together


def print_segments(report: dict[str, Any]) -> None:
    bounds = report["alert_bounds"]
    print(
        f"Segment health, {report['since']} to {report['until']} "
        f"({report['measured_days']} days measured; alerts beyond "
        f"{bounds['size_change_pct']:g} % size or {bounds['response_change_pts']:g} pts "
        "week over week, and beyond the sampling interval)"
    )
    if not report["segments"]:
        print("\nNo named segments yet: publish a segments file (nudge segments push).")
        return
    print(
        f"\n{'segment':<22}{'first':>21}{'last':>21}{'change':>9}  "
        f"{'last week open':<30}{'conversion':<30}alerts"
    )
    for name, row in report["segments"].items():
        change = row["size_change_pct"]
        week = row["weeks"][-1] if row["weeks"] else None
        label = name if row["published"] else f"{name} (gone)"
        print(
            f"{label:<22}{_size(row['size_first']):>21}{_size(row['size_last']):>21}"
            f"{'n/a' if change is None else f'{change:+.1f}%':>9}  "
            f"{_rate(week['open_rate']) if week else 'n/a':<30}"
            f"{_rate(week['conversion_rate']) if week else 'n/a':<30}{len(row['alerts'])}"
        )
    for name, row in report["segments"].items():
        for alert in row["alerts"]:
            for swing in alert["swings"]:
                print(f"  alert {alert['day']} {name}: {swing['evidence']}")
