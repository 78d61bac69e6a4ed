"""How the CLI (and the local demo) show admin API answers to a person: plain-text tables.

Each printer takes the admin API's JSON as is; `--json` prints that JSON instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

# --- shared bits -----------------------------------------------------------------------------


def _pct(rate: dict[str, Any] | None) -> str:
    if not rate or rate.get("pct") is None:
        return "n/a"
    return f"{rate['pct']:.1f}%"


def _signed(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.1f}"


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))


def show(data: Any, as_json: bool, printer: Callable[[Any], None]) -> None:
    """The admin API's answer as is (`--json`), or as the printer shows it."""
    print_json(data) if as_json else printer(data)


def format_problem(problem: dict[str, Any]) -> str:
    """A config load error from the admin API as `file:line: field: message`."""
    where = f"{problem['source']}:{problem['line']}" if problem.get("line") else problem["source"]
    field = f"{problem['field']}: " if problem.get("field") else ""
    return f"{where}: {field}{problem['message']}"


# --- reports ---------------------------------------------------------------------------------


def print_lifecycle(report: dict[str, Any]) -> None:
    print(f"Users: {report['users']}")
    print(f"{'stage':<12} {'users':>7} {'share':>7}")
    for stage, count in report["stages"].items():
        print(f"{stage:<12} {count:>7} {report['share_pct'][stage]:>6.1f}%")
    print(f"\nTransitions in the last {report['transitions_window_days']} days:")
    for move, count in report["transitions"].items() or {"(none)": 0}.items():
        print(f"  {move:<28} {count:>6}")


def print_campaigns(report: dict[str, Any]) -> None:
    """Campaigns as a marketer scans them: one line per variant, then why others were not sent."""
    print(f"Campaigns, last {report['days']} days")
    header = f"{'campaign':<28}{'variant':<10}{'sent':>7}{'conv.':>7}{'conv %':>8}"
    print(header + f"{'targeted':>10}  suppressed (top reasons)")
    for cid, row in report["campaigns"].items():
        reasons = ", ".join(f"{k} {v}" for k, v in list(row["suppressed"].items())[:4]) or "-"
        lines = [
            (vid, v["sent"], v["converted"], v["conversion_pct"])
            for vid, v in row["variants"].items()
        ]
        if row["holdout"]:
            lines.append(
                ("holdout", row["holdout"], row["holdout_converted"], row["holdout_conversion_pct"])
            )
        for i, (variant, sent, converted, pct) in enumerate(lines or [("-", 0, 0, None)]):
            name = f"{cid} ({row['status']})" if i == 0 else ""
            rate = "-" if pct is None else f"{pct:.1f}"
            tail = f"{row['targeted']:>10}  {reasons}" if i == 0 else ""
            print(f"{name:<28}{variant:<10}{sent:>7}{converted:>7}{rate:>8}{tail}")


def print_engagement(report: dict[str, Any]) -> None:
    """Opens, opt-outs against the baseline, and lift: one line per campaign, then formats."""
    print(f"\nEngagement, {report.get('since', '?')} to {report.get('until', '?')}")
    print(
        f"{'campaign':<28}{'deliv.':>8}{'opened':>8}{'open %':>8}{'vs base':>8}"
        f"{'opt-out':>8}{'opt %':>7}{'vs base':>8}  lift"
    )
    for cid, row in report["campaigns"].items():
        rail = row.get("guard_rail") or {}
        print(
            f"{cid:<28}{row.get('delivered', 0):>8}{row.get('opened', 0):>8}"
            f"{_pct(row.get('open_rate')):>8}{_signed(rail.get('open_vs_baseline_pts')):>8}"
            f"{row.get('opt_outs', 0):>8}{_pct(row.get('opt_out_rate')):>7}"
            f"{_signed(rail.get('opt_out_vs_baseline_pts')):>8}  "
            f"{(row.get('lift') or {}).get('label', '-')}"
        )
    for fmt, row in (report.get("formats") or {}).items():
        print(
            f"  format {fmt:<19} opens {_pct(row['open_rate'])}, "
            f"opt-outs {_pct(row['opt_out_rate'])}: {row['evidence']}"
        )
    loose = report.get("unattributed_opt_outs") or {}
    if loose.get("opt_out"):
        print(f"  opt-outs with no message before them: {loose['opt_out']}")
    other = report.get("other_message_opt_outs") or {}
    if other.get("opt_out"):
        print(f"  opt-outs after a broadcast or transactional message: {other['opt_out']}")


def print_campaigns_and_engagement(report: dict[str, Any]) -> None:
    print_campaigns(report)
    print_engagement(report)


def print_campaign(report: dict[str, Any]) -> None:
    """One campaign: the funnel, why others were not sent, failures, opt-outs, lift."""
    print(
        f"Campaign {report['id']} ({report['status']}, {report['category']}), "
        f"{report['since']} to {report['until']}"
    )
    print("\nFunnel")
    top = report["funnel"][0]["count"] or 0
    for step in report["funnel"]:
        share = f"{100 * step['count'] / top:.1f}%" if top else "n/a"
        print(f"  {step['step']:<12}{step['count']:>8}  {share:>7}")
    print(f"  {'holdout':<12}{report['holdout']:>8}  (converted {report['holdout_converted']})")
    print(
        f"\nOpen rate {report['open_rate']['label']}; "
        f"opt-out rate {report['opt_out_rate']['label']}"
    )
    rail = report.get("guard_rail")
    if rail:
        print(f"  {rail['evidence']}")
    for title, values in (
        ("Suppressed by reason", report["suppressed"]),
        ("Failed by error", report["failures"]),
        ("Opt-outs by kind", report["opt_outs_by_kind"]),
    ):
        print(f"\n{title}")
        for key, count in values.items() or {"(none)": 0}.items():
            print(f"  {key:<24}{count:>8}")
    _print_campaign_variants(report)


def _print_campaign_variants(report: dict[str, Any]) -> None:
    print("\nVariants")
    print(
        f"  {'variant':<12}{'format':<7}{'sent':>7}{'deliv.':>8}{'opened':>8}{'open %':>8}"
        f"{'opt-outs':>9}"
    )
    for vid, v in report["variants"].items():
        fmt = report["formats"].get(vid, "-")
        print(
            f"  {vid:<12}{fmt:<7}{v['sent']:>7}{v['delivered']:>8}{v['opened']:>8}"
            f"{_pct(v['open_rate']):>8}{v['opt_outs']:>9}"
        )
    lift = report["lift"]
    print(f"\nLift (conversion, exposed vs holdout): {lift['label']}")
    for vid, v in report["variant_lift"].items():
        print(f"  {vid:<12}{v['label']}")
    _print_variant_comparison(report.get("variant_comparison"))
    _print_promotion(report.get("promotion"), report["id"])


def _print_promotion(promotion: dict[str, Any] | None, campaign_id: str) -> None:
    """auto_promote's last promotion: the winner, when, on what evidence, and how to revert."""
    if not promotion:
        return
    when = _utc(promotion["at"])
    rates = ", ".join(
        f"{vid} {_pct(rate)} of {rate['n']}" for vid, rate in promotion["evidence"]["rates"].items()
    )
    print(
        f"\nAuto-promoted {promotion['variant']} at {when} "
        f"(v{promotion['version']}, days {promotion['since']} to {promotion['until']}: {rates})"
    )
    for pair in promotion["evidence"]["pairs"]:
        print(
            f"  {pair['a']} vs {pair['b']:<12}{pair['diff_pts']:+.1f} pts "
            f"(adjusted CI {pair['ci_low_pts']:+.1f} to {pair['ci_high_pts']:+.1f})"
        )
    if promotion["in_effect"]:
        print(f"  in effect: revert with `nudge campaign unpromote {campaign_id}`")
    else:
        print(f"  ended {_utc(promotion['ended_at'])}: {promotion['ended_by']}")


def _utc(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def _print_variant_comparison(comparison: dict[str, Any] | None) -> None:
    """Variant against variant: one line per pair, then the winner (if a clear one)."""
    if not comparison or len(comparison["rates"]) < 2:
        return
    print(f"\nVariant against variant ({comparison['method']}): {comparison['label']}")
    for pair in comparison["pairs"]:
        if pair["diff_pts"] is None:
            print(f"  {pair['a']} vs {pair['b']:<12}n/a (no sends yet)")
            continue
        print(
            f"  {pair['a']} vs {pair['b']:<12}{pair['diff_pts']:+.1f} pts "
            f"(CI {pair['ci_low_pts']:+.1f} to {pair['ci_high_pts']:+.1f}) {pair['verdict']}"
        )


def print_sunset(report: dict[str, Any]) -> None:
    print(f"Sunset advice, {report['since']} to {report['until']}: {report['summary']}")
    if report["candidates"]:
        print(
            f"\n{'kind':<10}{'name':<28}{'open %':>8}{'short':>7}{'opt %':>8}{'excess':>8}"
            "  evidence"
        )
        for c in report["candidates"]:
            print(
                f"{c['kind']:<10}{c['key']:<28}{_pct(c['open_rate']):>8}"
                f"{-c['open_shortfall_pts']:>+7.1f}{_pct(c['opt_out_rate']):>8}"
                f"{c['opt_out_excess_pts']:>+8.1f}  {c['evidence']}"
            )
    if report["not_judged"]:
        small = ", ".join(
            f"{r['kind']} {r['key']} ({r['delivered']})" for r in report["not_judged"]
        )
        print(f"\nNot judged (fewer than {report['min_sample']} delivered): {small}")


# --- broadcasts ------------------------------------------------------------------------------


def broadcast_reach(progress: dict[str, Any]) -> str:
    """What a broadcast's messages did, in a line (from GET /admin/v1/broadcasts/ID)."""
    counted = progress["outcomes"]
    rate = f" ({counted['open_rate']:.0%})" if counted["open_rate"] is not None else ""
    opted_out = f", {counted['opt_outs']} opted out after it" if counted["opt_outs"] else ""
    return f"delivered to {counted['delivered']}, opened by {counted['opened']}{rate}{opted_out}"


def broadcast_start(answer: dict[str, Any]) -> str:
    """When it starts, from a broadcast's answer: at once, at an instant, or in waves."""
    plan = answer.get("schedule") or {}
    if plan.get("waves_planned"):
        return (f"at {plan['local_time']} local on {plan['local_date']} in "
                f"{plan['waves_planned']} waves ({plan['waves_done']} done), "
                f"next {plan['next_start'] or '-'}")  # fmt: skip
    if plan.get("start_at"):
        return f"starts {plan['start_at']}"
    return "started"


def broadcast_audience(estimate: dict[str, Any]) -> str:
    low, high = estimate["interval_95"]
    exact = "exact" if estimate["complete"] else f"95% {low:,}-{high:,}"
    return f"about {estimate['estimate']:,} users ({exact})"


def print_broadcast(progress: dict[str, Any]) -> None:
    counted = progress["outcomes"]
    total = progress["total"] if progress["total"] is not None else "everyone"
    print(f"Broadcast {progress['broadcast_id']} ({progress['status']})")
    print(f"  queued      {progress['enqueued']} (users looked at: {progress['scanned']}, "
          f"of {total})")  # fmt: skip
    print(f"  outcome     {broadcast_reach(progress)}")
    for label, kind, by in (("failed", "failed", "failed_by_code"),
                            ("held back", "suppressed", "suppressed_by_reason"),
                            ("opt-outs", "opt_outs", "opt_outs_by_kind")):  # fmt: skip
        details = ", ".join(f"{why} {n}" for why, n in counted[by].items())
        print(f"  {label:<11} {counted[kind]}" + (f": {details}" if details else ""))
    if progress.get("estimate"):
        print(f"  audience    {broadcast_audience(progress['estimate'])}")
    print(f"  created     {progress['created_at']}; {broadcast_start(progress)}")
    if progress["finished_at"]:
        print(f"  finished    {progress['finished_at']}")


# --- config lists (campaigns, surveys, fence sets) -------------------------------------------


def print_campaign_list(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("No campaigns yet: nudge campaign push FILE.yaml")
        return
    print(f"{'campaign':<28} {'status':<11} {'version':>7}  {'trigger':<10} name")
    for row in rows:
        version = row["version"] if row["version"] is not None else "-"
        print(
            f"{row['id']:<28} {row['status']:<11} {version!s:>7}  "
            f"{row.get('trigger') or '-':<10} {row.get('name') or ''}"
        )
        if row.get("status_reason"):
            print(f"    ! {row['status_reason']}")
        for problem in row.get("errors") or []:
            print(f"    ✗ {format_problem(problem)}")


def print_estimate(result: dict[str, Any]) -> None:
    low, high = result["interval_95"]
    exact = "exact" if result["complete"] else f"95% interval {low:,}-{high:,}"
    print(f"Audience of {result['campaign']!r}: about {result['estimate']:,} users ({exact})")
    print(
        f"  matched {result['matched']:,} of {result['scanned']:,} profiles read "
        f"({result['sampled_segments']} of {result['total_segments']} scan segments; "
        f"{result['users']:,} users in all)"
    )
    for stage, counts in result["by_stage"].items():
        print(f"  {stage:<12} {counts['estimate']:>9,}")


def print_survey_list(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("No surveys yet: nudge survey push FILE.yaml")
        return
    print(f"{'survey':<28} {'status':<11} {'version':>7}  {'sample':>6}  trigger")
    for row in rows:
        version = row["version"] if row["version"] is not None else "-"
        sample = f"{row['sample_pct']:g}%" if row.get("sample_pct") is not None else "-"
        print(
            f"{row['id']:<28} {row['status']:<11} {version!s:>7}  {sample:>6}  "
            f"{row.get('trigger') or '-'}"
        )
        for problem in row.get("errors") or []:
            print(f"    ✗ {format_problem(problem)}")


def print_fence_sets(rows: list[dict[str, Any]]) -> None:
    if not rows:
        print("No fence sets yet: nudge geofences push FILE.geojson")
        return
    print(f"{'set':<28} {'status':<11} {'version':>7} {'fences':>7}  name")
    for row in rows:
        version = row["version"] if row["version"] is not None else "-"
        fences = row["fences"] if row.get("fences") is not None else "-"
        print(
            f"{row['id']:<28} {row['status']:<11} {version!s:>7} {fences!s:>7}  "
            f"{row.get('name') or ''}"
        )
        for problem in row.get("errors") or []:
            print(f"    ✗ {format_problem(problem)}")


def print_nearby_fences(result: dict[str, Any]) -> None:
    for fence in result["fences"]:
        shape = "polygon" if fence["circumscribed"] else "circle"
        print(
            f"{fence['distance_m']:>9.1f} m  {fence['id']:<40} {fence['name']} "
            f"({shape}, r={fence['radius_m']:.0f} m)"
        )
    if not result["fences"]:
        print("No fences within 25 km (or none published)")
    print(f"ask again after moving {result['refresh_radius_m']:.0f} m")


# --- NPS -------------------------------------------------------------------------------------


def _fmt_nps(row: dict[str, Any]) -> str:
    score = row.get("score", row["nps"])  # reports before CSAT/CES had only "nps"
    if score is None:
        return f"{'-':>6} {row['n']:>6}  {'':<15}"
    digits = 1 if row.get("kind") == "ces" else 0
    ci = f"[{row['ci_low']:.{digits}f}, {row['ci_high']:.{digits}f}]"
    flag = "  (not enough responses)" if row["not_enough_responses"] else ""
    return f"{score:>6.1f} {row['n']:>6}  {ci:<15}{flag}"


def print_nps(report: dict[str, Any], show_priorities: bool = False) -> None:
    overall = report["overall"]
    kind = str(report.get("kind", "nps")).upper()
    print(
        f"{kind} of {report['survey_id']!r} ({report['status']}), {report['since']} to "
        f"{report['until']}: {overall['label']}"
    )
    print(f"\n{'period':<12} {kind:>6} {'n':>6}  95% CI")
    for point in report["trend"]:
        print(f"{point['period']:<12} {_fmt_nps(point)}")
    if report.get("breakdown") is not None:
        print(f"\nby {report['by']}:")
        print(f"{'value':<16} {kind:>6} {'n':>6}  95% CI")
        for row in report["breakdown"]:
            print(f"{row['value']:<16} {_fmt_nps(row)}")
    themes = report.get("themes")
    if themes:
        print(
            f"\nthemes ({themes['comments']} comments from the last "
            f"{themes['responses_read']} responses):"
        )
        for theme in themes["themes"]:
            avg = theme["average_score"]
            score = f"avg {avg:.1f}" if avg is not None else ""
            print(f"  {theme['name']:<32} {theme['size']:>5}  {score}")
            for example in theme["examples"][:2]:
                print(f"      “{example}”")
        if show_priorities:
            print_priorities(themes["priorities"])


def print_priorities(priorities: dict[str, Any]) -> None:
    """Themes ranked by what they cost the score (fix first) and what promoters praise."""
    for side, title in (("fix_first", "fix first"), ("praised", "what promoters praise")):
        print(f"\n{title} (impact = share x score gap, 95% CI):")
        rows = priorities[side]
        if not rows:
            print("  (no themes yet)")
        for row in rows:
            if row["impact"] is None:
                figure = f"{'':>6} {'':<16}"
            else:
                low, high, impact = (row[k] + 0.0 for k in ("ci_low", "ci_high", "impact"))
                ci = f"[{low:.2f}, {high:.2f}]"  # + 0.0: a rounded -0.0 prints as 0.00
                figure = f"{impact:>6.2f} {ci:<16}"
            share = f"{row['share']:.0%} of {'detractors' if side == 'fix_first' else 'promoters'}"
            print(f"  {row['theme']:<28} {figure} {row['verdict']:<16} {share}")
            if row["verdict"] in ("fix first", "praised"):
                for quote in row["quotes"][:2]:
                    print(f"      “{quote}”")
