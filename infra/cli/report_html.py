"""`nudge report html`: one self-contained HTML file (charts inlined as base64 PNGs).

Everything comes from the admin API's JSON reports (no scans, nothing computed twice):
engagement per day, campaigns (funnel, lift), sunset advice, lifecycle and NPS. Charts are
drawn by matplotlib, an optional extra imported only here: without it the command says which
extra to install. Empty periods draw an empty chart that says so, never a NaN.

Lifecycle over time: the lifecycle report gives users per stage now and the stage moves of
the last N days; each weekly point rolls today's counts back by the moves since then. Users
who arrived later are not subtracted (arrivals are not counted per day): they show as "new".
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

Fetch = Callable[[str], Any]  # GET path -> parsed JSON
CHARTS_EXTRA = "charts"
STAGES = ("new", "active", "loyal", "at_risk", "dormant", "reactivated")
MAX_SURVEYS = 5
MAX_PRIORITIES = 5  # per survey


class ChartsUnavailable(RuntimeError):
    pass


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError as error:
        raise ChartsUnavailable(
            "the HTML report draws its charts with matplotlib, which is not installed: "
            f"pip install 'nudge[{CHARTS_EXTRA}]' (the dev extra includes it too)"
        ) from error
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(plt: Any, fig: Any) -> str:
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode()


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_xticks([])
    ax.set_yticks([])


def _engagement_chart(plt: Any, data: dict[str, Any]) -> Any:
    fig, ax = plt.subplots(figsize=(9, 4))
    rows = data.get("daily") or []
    days = [row["day"][5:] for row in rows]
    if not any(row[k] for row in rows for k in ("sent", "opened", "opt_out")):
        _empty(ax, "nothing sent in this period")
    else:
        for key, label in (
            ("sent", "sent"),
            ("delivered", "delivered"),
            ("opened", "opened"),
            ("opt_out", "opt-outs"),
        ):
            ax.plot(days, [row[key] for row in rows], marker=".", label=label)
        ax.set_ylabel("messages per day")
        ax.legend()
        ax.tick_params(axis="x", labelrotation=60, labelsize=7)
    ax.set_title("Sends, opens and opt-outs over time")
    return fig


FUNNEL = ("targeted", "sent", "delivered", "opened", "converted")


def _funnel_chart(plt: Any, campaigns: dict[str, Any]) -> Any:
    fig, ax = plt.subplots(figsize=(9, 4))
    shown = {cid: row for cid, row in campaigns.items() if row.get("targeted") or row.get("sent")}
    if not shown:
        _empty(ax, "no campaign targeted anyone in this period")
    else:
        width = 0.8 / len(FUNNEL)
        for i, step in enumerate(FUNNEL):
            xs = [n + i * width for n in range(len(shown))]
            ax.bar(xs, [row.get(step, 0) for row in shown.values()], width, label=step)
        ax.set_xticks([n + 0.4 - width / 2 for n in range(len(shown))], list(shown))
        ax.set_ylabel("users / messages")
        ax.legend(fontsize=8)
    ax.set_title("Funnel per campaign")
    return fig


def _lift_chart(plt: Any, campaigns: dict[str, Any]) -> Any:
    fig, ax = plt.subplots(figsize=(9, 4))
    rows = [
        (cid, row["lift"])
        for cid, row in campaigns.items()
        if row.get("lift") and row["lift"].get("diff_pts") is not None
    ]
    if not rows:
        _empty(ax, "no campaign has both sends and a holdout yet")
    else:
        for y, (_, lift) in enumerate(rows):
            low, high = lift["ci_low_pts"], lift["ci_high_pts"]
            color = {"helps": "tab:green", "hurts": "tab:red"}.get(lift["verdict"], "tab:grey")
            ax.errorbar(
                lift["diff_pts"],
                y,
                xerr=[[lift["diff_pts"] - low], [high - lift["diff_pts"]]],
                fmt="o",
                color=color,
                capsize=4,
            )
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_yticks(range(len(rows)), [f"{cid}\n{lift['verdict']}" for cid, lift in rows])
        ax.set_xlabel("conversion lift over holdout, percentage points (95% interval)")
    ax.set_title("Lift with 95% intervals")
    return fig


MAX_CATEGORIES = 3  # regional chart: categories with sends in the period
MAX_REGIONS = 25  # rows drawn in it (the best ranked)
CATEGORY_COLORS = ("tab:blue", "tab:orange", "tab:green")


def regional_reports(fetch: Fetch, campaigns: dict[str, Any], days: int) -> dict[str, Any]:
    """Each category with sends in the period: its campaigns' conversion by country (one
    breakdown request per category, ranked by the server)."""
    categories = sorted(
        {
            str(row["category"])
            for row in campaigns.values()
            if row.get("sent") and row.get("category")
        }
    )[:MAX_CATEGORIES]
    return {
        category: fetch(
            f"/admin/v1/reports/categories/{quote(category, safe='')}/breakdown"
            f"?by=country&days={days}&rank_by=conversion"
        )
        or {}
        for category in categories
    }


def _regional_chart(plt: Any, reports: dict[str, Any]) -> Any:
    """Conversion by country, ranked, with 95 % intervals; small countries only counted."""
    shown = [
        (category, row)
        for category, report in reports.items()
        for row in report.get("rows") or []
        if row["enough_data"] and row["conversion"]["pct"] is not None
    ][:MAX_REGIONS]
    small = sum(not row["enough_data"] for r in reports.values() for row in r.get("rows") or [])
    fig, ax = plt.subplots(figsize=(9, max(3.0, 0.35 * len(shown) + 1.5)))
    if not shown:
        _empty(ax, "no country has enough sends yet")
    else:
        colors = dict(zip(reports, CATEGORY_COLORS, strict=False))
        for place, (category, row) in enumerate(shown):
            rate = row["conversion"]
            low, high = rate["ci_pct"]
            ax.errorbar(
                rate["pct"],
                len(shown) - 1 - place,
                xerr=[[rate["pct"] - low], [high - rate["pct"]]],
                fmt="o",
                color=colors.get(category, "tab:grey"),
                capsize=3,
            )
        labels = [f"{row['value']} ({category}, n={row['sent']})" for category, row in shown]
        ax.set_yticks(range(len(shown)), labels[::-1], fontsize=8)
        ax.set_xlabel("conversion of sends, % (95% interval)")
    note = f"; {small} with too little data not shown" if small else ""
    ax.set_title(f"Conversion by country, ranked{note}")
    return fig


def lifecycle_points(fetch: Fetch, days: int) -> list[tuple[int, dict[str, int]]]:
    """(days ago, users per stage) weekly back from today, rolled back by the stage moves."""
    points = []
    now = fetch("/admin/v1/reports/lifecycle?days=1")
    stages_now = {stage: int(now["stages"].get(stage, 0)) for stage in STAGES}
    points.append((0, stages_now))
    for back in range(7, min(days, 90) + 1, 7):
        report = fetch(f"/admin/v1/reports/lifecycle?days={back}")
        stages = dict(stages_now)
        for move, count in (report.get("transitions") or {}).items():
            source, _, target = move.partition("->")
            if source in stages and target in stages:
                stages[target] -= count
                stages[source] += count
        points.append((back, {k: max(0, v) for k, v in stages.items()}))
    return sorted(points, key=lambda point: -point[0])


def _lifecycle_chart(plt: Any, points: list[tuple[int, dict[str, int]]]) -> Any:
    fig, ax = plt.subplots(figsize=(9, 4))
    if not any(sum(stages.values()) for _, stages in points):
        _empty(ax, "no users yet")
    else:
        xs = [f"-{back}d" if back else "today" for back, _ in points]
        ax.stackplot(
            xs,
            *[[stages[stage] for _, stages in points] for stage in STAGES],
            labels=STAGES,
        )
        ax.set_ylabel("users")
        ax.legend(loc="upper left", fontsize=8)
    ax.set_title("Lifecycle distribution over time")
    return fig


def nps_reports(fetch: Fetch, days: int) -> dict[str, dict[str, Any]]:
    """Each active or paused survey's report (trend, themes and their priorities)."""
    surveys = (fetch("/admin/v1/surveys") or {}).get("surveys") or []
    ids = [s["id"] for s in surveys if s.get("status") in ("active", "paused")][:MAX_SURVEYS]
    reports = {}
    for survey_id in ids:
        since = max(7, min(days, 730))
        path = f"/admin/v1/reports/nps/{quote(survey_id, safe='')}?period=weekly&since={since}d"
        reports[survey_id] = fetch(path) or {}
    return reports


def nps_trends(reports: dict[str, dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    return {survey_id: report.get("trend") or [] for survey_id, report in reports.items()}


def _priority_rows(reports: dict[str, dict[str, Any]]) -> list[list[Any]]:
    """The themes to fix first of each survey (ranked ones), with a detractor's words."""
    rows = []
    for survey_id, report in reports.items():
        priorities = ((report.get("themes") or {}).get("priorities") or {}).get("fix_first")
        for row in (priorities or [])[:MAX_PRIORITIES]:
            if row.get("impact") is None:
                continue
            rows.append(
                [
                    survey_id,
                    row["theme"],
                    f"{row['impact'] + 0.0:.2f} [{row['ci_low'] + 0.0:.2f}, "
                    f"{row['ci_high'] + 0.0:.2f}]",
                    row["verdict"],
                    f"{row['share']:.0%}",
                    (row.get("quotes") or [""])[0],
                ]
            )
    return rows


def _nps_chart(plt: Any, trends: dict[str, list[dict[str, Any]]]) -> Any:
    fig, ax = plt.subplots(figsize=(9, 4))
    drawn = False
    for survey_id, points in trends.items():
        known = [p for p in points if p.get("nps") is not None]
        if not known:
            continue
        drawn = True
        xs = [p["period"] for p in known]
        ax.plot(xs, [p["nps"] for p in known], marker="o", label=survey_id)
        lows = [p["ci_low"] if p.get("ci_low") is not None else p["nps"] for p in known]
        highs = [p["ci_high"] if p.get("ci_high") is not None else p["nps"] for p in known]
        ax.fill_between(xs, lows, highs, alpha=0.15)
    if drawn:
        ax.set_ylim(-100, 100)
        ax.set_ylabel("NPS (95% interval shaded)")
        ax.legend(fontsize=8)
        ax.tick_params(axis="x", labelrotation=45, labelsize=7)
    else:
        _empty(ax, "no NPS responses in this period")
    ax.set_title("NPS trend")
    return fig


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _rate(rate: dict[str, Any] | None) -> str:
    return "n/a" if not rate or rate.get("pct") is None else f"{rate['pct']:.1f}%"


def _campaign_rows(campaigns: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            cid,
            row.get("status", ""),
            row.get("sent", 0),
            row.get("delivered", 0),
            _rate(row.get("open_rate")),
            _rate(row.get("opt_out_rate")),
            (row.get("lift") or {}).get("label", "-"),
        ]
        for cid, row in campaigns.items()
    ]


def _variant_rows(campaigns: dict[str, Any]) -> list[list[Any]]:
    """Every pair of variants of every campaign with two or more, with the campaign's verdict
    (and auto_promote's promotion, if one is in effect)."""
    rows = []
    for cid, row in campaigns.items():
        comparison = row.get("variant_comparison") or {}
        promotion = row.get("promotion") or {}
        verdict = comparison.get("label", "")
        if promotion.get("in_effect"):
            verdict += f"; traffic promoted to {promotion['variant']}"
        for pair in comparison.get("pairs") or []:
            diff, low, high = pair["diff_pts"], pair["ci_low_pts"], pair["ci_high_pts"]
            rows.append(
                [
                    cid,
                    f"{pair['a']} vs {pair['b']}",
                    "n/a" if diff is None else f"{diff:+.1f} pts",
                    "n/a" if low is None or high is None else f"{low:+.1f} to {high:+.1f}",
                    verdict,
                ]
            )
    return rows


def _sunset_rows(sunset: dict[str, Any]) -> list[list[Any]]:
    return [
        [c["kind"], c["key"], _rate(c["open_rate"]), _rate(c["opt_out_rate"]), c["evidence"]]
        for c in sunset.get("candidates") or []
    ]


def build_html(fetch: Fetch, days: int) -> str:
    plt = _pyplot()
    engagement = fetch(f"/admin/v1/reports/engagement?days={days}")
    campaigns_report = fetch(f"/admin/v1/reports/campaigns?days={days}")
    campaigns = campaigns_report.get("campaigns") or {}
    sunset = fetch(f"/admin/v1/reports/sunset?days={min(days, 400)}")
    nps = nps_reports(fetch, days)
    regional = regional_reports(fetch, campaigns, days)
    figures = [
        ("Sends, opens and opt-outs over time", _engagement_chart(plt, engagement)),
        ("Funnel per campaign", _funnel_chart(plt, campaigns)),
        ("Lift with 95% intervals", _lift_chart(plt, campaigns)),
        ("Conversion by country", _regional_chart(plt, regional)),
        ("Lifecycle distribution over time", _lifecycle_chart(plt, lifecycle_points(fetch, days))),
        ("NPS trend", _nps_chart(plt, nps_trends(nps))),
    ]
    sections = [
        f'<section><h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" '
        f'src="data:image/png;base64,{_png(plt, fig)}"></section>'
        for title, fig in figures
    ]
    campaign_rows = _campaign_rows(campaigns)
    variant_rows = _variant_rows(campaigns)
    sunset_rows = _sunset_rows(sunset)
    priority_rows = _priority_rows(nps)
    since, until = campaigns_report.get("since", ""), campaigns_report.get("until", "")
    return "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>Nudge engagement report {html.escape(since)} to {html.escape(until)}</title>",
            "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
            "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
            "padding:4px 8px;font-size:13px}img{max-width:100%}</style></head><body>",
            f"<h1>Nudge engagement report</h1><p>{html.escape(since)} to "
            f"{html.escape(until)} ({days} days)</p>",
            *sections,
            "<section><h2>Campaigns</h2>",
            _table(
                ["campaign", "status", "sent", "delivered", "open rate", "opt-out rate", "lift"],
                campaign_rows,
            )
            if campaign_rows
            else "<p>No campaigns published.</p>",
            "</section><section><h2>Variant against variant</h2>",
            "<p>Conversion of sends, each pair's difference with its interval adjusted for the "
            "number of pairs (family-wise 95%); a winner only when it is clear.</p>",
            _table(["campaign", "pair", "difference", "adjusted CI", "verdict"], variant_rows)
            if variant_rows
            else "<p>No campaign has two variants.</p>",
            "</section><section><h2>Sunset advice</h2>",
            f"<p>{html.escape(str(sunset.get('summary', '')))}</p>",
            _table(["kind", "name", "opens", "opt-outs", "evidence"], sunset_rows)
            if sunset_rows
            else "",
            "</section><section><h2>Survey themes to fix first</h2>",
            "<p>Impact: the share of detractors who mention a theme times how many points "
            "lower they score than those who don't (95% interval).</p>",
            _table(
                ["survey", "theme", "impact", "verdict", "of detractors", "in their words"],
                priority_rows,
            )
            if priority_rows
            else "<p>No theme has enough comments to rank yet.</p>",
            "</section></body></html>",
        ]
    )


def write_report(fetch: Fetch, out: str | Path, days: int) -> Path:
    path = Path(out)
    try:
        text = build_html(fetch, days)
    except ChartsUnavailable as error:
        raise SystemExit(str(error)) from error
    path.write_text(text, encoding="utf-8")
    return path
