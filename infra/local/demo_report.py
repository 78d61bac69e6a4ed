"""What `make demo` prints at the end, and the charts it writes to reports/demo/.

Lifecycle, devices and consent, pushes and traffic, the weekend-works broadcast, the campaign
and engagement reports (the `nudge` CLI's printers), the NPS and sunset reports; then the
HTML report (written by `nudge report html`) and two charts of the lifecycle over the days.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nudge_cli.printers import broadcast_reach, print_campaigns, print_engagement
from nudge_local.demo_town import DAYS, Tally, User
from nudge_local.template import PROJECT_ROOT

REPORT_DIR = PROJECT_ROOT / "reports" / "demo"


@dataclass
class Outcome:
    """What the stack and the `nudge` CLI tell after the virtual days, for `print_outcome`."""

    final: dict[str, Any]  # the lifecycle report over the whole run
    tally: Tally
    users: list[User]
    seconds: float  # wall time, until the reports were asked for
    stats: dict[str, Any]  # the local stack's /_local/stats
    queues: dict[str, Any]
    pushes: list[dict[str, Any]]  # the FCM emulator's inbox
    campaigns: dict[str, Any]  # /admin/v1/reports/campaigns
    works: dict[str, Any]  # `nudge broadcast-status` of the weekend works
    departures: str  # `nudge report campaign station-departures`
    nps: str  # `nudge nps report <survey> --period weekly --by lifecycle --priorities`
    tickets: int  # detractor answers that reached the ticket desk
    sunset: str  # `nudge report sunset`
    csat: str = ""  # `nudge nps report csat-ticket`: the CSAT survey beside NPS
    regions: str = ""  # `nudge report regions --category ...`: the breakdown and the model


def print_outcome(outcome: Outcome, survey: str, notice: str) -> None:
    """Every report after the run, in order; `survey` and `notice` name the survey and the
    broadcast template."""
    report(
        outcome.final,
        outcome.tally,
        outcome.users,
        outcome.seconds,
        outcome.stats,
        outcome.queues,
        outcome.pushes,
    )
    works, tally = outcome.works, outcome.tally
    reach = f"{works['enqueued']} Dutch-speaking riders of {works['scanned']} users"
    landed = broadcast_reach(works)
    print(f"  broadcast {notice}: {works['status']}, {reach}, {landed}")
    print()
    print_campaigns(outcome.campaigns)
    print_engagement(outcome.campaigns)
    print("\n" + outcome.departures.rstrip())
    if outcome.regions:
        print("\nWhich regions respond (nudge report regions --category product_updates)")
        print("  " + outcome.regions.rstrip().replace("\n", "\n  "))
    print(f"\nNPS: {survey} (nudge nps report {survey} --by lifecycle --priorities)")
    asked = f"prompts shown {tally.surveys_shown}, answered {tally.surveys_answered}"
    print(f"  {asked}, not now {tally.surveys_dismissed}; tickets {outcome.tickets}")
    print("  " + outcome.nps.rstrip().replace("\n", "\n  "))
    if outcome.csat:
        print("\nCSAT beside NPS (nudge nps report csat-ticket)")
        print("  " + outcome.csat.rstrip().replace("\n", "\n  "))
    print("\n" + outcome.sunset.rstrip())


def print_files(paths: list[Path]) -> None:
    print("\nReport and charts")
    for path in paths:
        print(f"  {path.relative_to(PROJECT_ROOT)}")


def charts(snapshots: list[dict[str, Any]], final: dict[str, Any]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    REPORT_DIR.mkdir(parents=True, exist_ok=True)
    stages = list(final["stages"])
    colors = {
        "new": "#8ecae6",
        "active": "#219ebc",
        "loyal": "#023047",
        "at_risk": "#ffb703",
        "dormant": "#9e9e9e",
        "reactivated": "#fb8500",
    }
    days = [s["day"] for s in snapshots]

    fig, ax = plt.subplots(figsize=(9, 4.5))
    ax.stackplot(
        days,
        [[s["stages"][st] for s in snapshots] for st in stages],
        labels=stages,
        colors=[colors[st] for st in stages],
    )
    ax.set(
        title="Users per lifecycle stage, by virtual day",
        xlabel="day",
        ylabel="users",
        xlim=(0, days[-1]),
    )
    ax.legend(loc="upper left", ncols=3, fontsize=8)
    fig.tight_layout()
    distribution = REPORT_DIR / "lifecycle_distribution.png"
    fig.savefig(distribution, dpi=110)
    plt.close(fig)

    moves = final["transitions"]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    labels = list(moves)[:10]
    ax.barh(labels[::-1], [moves[m] for m in labels][::-1], color="#219ebc")
    ax.set(title=f"Lifecycle transitions over {DAYS} days", xlabel="transitions")
    fig.tight_layout()
    transitions = REPORT_DIR / "lifecycle_transitions.png"
    fig.savefig(transitions, dpi=110)
    plt.close(fig)
    return [distribution, transitions]


def report(
    final: dict[str, Any],
    tally: Tally,
    users: list[User],
    seconds: float,
    stats: dict[str, Any],
    queues: dict[str, Any],
    pushes: list[dict[str, Any]],
) -> None:
    print(f"\nLifecycle after {DAYS} virtual days ({final['users']} users)")
    print(f"  {'stage':<12}{'users':>7}{'share':>8}")
    for stage, count in final["stages"].items():
        print(f"  {stage:<12}{count:>7}{final['share_pct'][stage]:>7.1f}%")
    print("\nTransitions")
    for move, count in final["transitions"].items():
        print(f"  {move:<26}{count:>6}")
    personas = Counter(u.persona for u in users)
    print("\nDevices and consent")
    print(f"  devices registered     {tally.devices}")
    print(f"  marketing opt-ins      {tally.marketing_opt_ins} (consent mode: opt-in)")
    turned_off = ", ".join(f"{k} {v}" for k, v in sorted(tally.opt_outs.items())) or "none"
    print(f"  turned off in the app  {turned_off} (over-messaged; each in the audit trail)")
    print(f"  pushes opened          {tally.opens} (reported by the app as push_opened)")
    print(f"  location allowed       {tally.location_grants} commuters (geofence departures)")
    print("\nPushes")
    by_source = Counter(
        "campaign " + p["data"]["template_id"].split(".")[0]
        if "." in p["data"]["template_id"]
        else p["data"]["template_id"]
        for p in pushes
    )
    print(f"  messages queued        {tally.messages_queued} (each sent twice by its backend)")
    print(f"  delivered to FCM       {len(pushes)} (emulator inbox: once per device)")
    for source, count in sorted(by_source.items()):
        print(f"    {source:<28}{count:>5}")
    print("\nTraffic")
    print(f"  users by persona       {dict(personas)}")
    print(f"  HTTP requests          {tally.requests}")
    print(f"  events accepted        {tally.accepted}")
    print(f"  events rejected        {tally.rejected} (malformed, reported per event)")
    print(f"  events re-sent         {tally.retried} (duplicates: counted once)")
    print(f"  non-202 answers        {dict(tally.errors) or 'none'}")
    print(f"  events DLQ             {queues['EventsDLQ']['visible']} messages")
    print(f"  function invocations   {stats['functions']}")
    print(f"  median latency (ms)    {stats['latency_ms_p50']}")
    print(f"  wall time              {seconds:.1f}s")
