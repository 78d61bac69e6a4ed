"""`make demo`: 30 virtual days of app users through the real HTTP API of the local stack.

Five personas of riders - commuters, planners, lapsing, returning, one-shot - are seeded, so
every run tells the same story (who they are and what they do: `nudge_local.demo_town`).
The campaigns in events/campaigns/ run throughout (pushed with the `nudge` CLI): onboarding
for new users, a win-back for at_risk past buyers, an interest-based weekend-trip idea, a
Monday 09:00-local digest, and live departures when a commuter walks into a train station
(geofences from events/geofences/, for commuters who allowed location; it keeps a 30 %
holdout and two texts, and riders who get it buy the ride home more often - more so after
the text offering the ticket - so lift gets a verdict, the variant comparison names a winner
and auto_promote moves the traffic to it). After a completed trip some riders are asked the
NPS survey in events/surveys/; they answer in the app a session later (or say "not now"),
and detractors reach a ticket webhook run by the demo.
On Friday of the second week operations broadcast weekend works to Dutch-speaking riders.
Phones open some pushes (the app reports push_opened), and easily annoyed users who get
several pushes of a category turn it off; Nudge attributes each opt-out to the last message.
The demo also retries requests (duplicates), sends a few malformed events, and ends with
lifecycle, campaign (opens, opt-outs, lift), sunset and NPS reports, and the HTML report
with charts in reports/demo/.

Here the stack is started, the campaigns published and the days played; what is printed and
written at the end is `nudge_local.demo_report`.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from nudge_local import process
from nudge_local.client import LocalClient
from nudge_local.demo_report import REPORT_DIR, Outcome, charts, print_files, print_outcome
from nudge_local.demo_town import (
    DAYS,
    ENGAGEMENT,
    SEED,
    SLOTS,
    START,
    USERS,
    Tally,
    User,
    make_users,
    onboard,
    send_renewal,
    session,
    session_events,
)
from nudge_local.template import PROJECT_ROOT
from nudge_local.webhook import WebhookReceiver

DEMO_STATE = PROJECT_ROOT / ".nudge" / "demo"
CAMPAIGNS = PROJECT_ROOT / "events" / "campaigns"
STATIONS = PROJECT_ROOT / "events" / "geofences" / "stations.geojson"
SURVEY = PROJECT_ROOT / "events" / "surveys" / "nps-after-trip.yaml"
CSAT = PROJECT_ROOT / "events" / "surveys" / "csat-ticket.yaml"
NOTICE = PROJECT_ROOT / "events" / "templates" / "engineering_works.yaml"


def nudge(state_dir: Path, *args: str) -> str:
    """The `nudge` CLI, as a marketer runs it against this stack; its output."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("nudge")), "--state-dir", str(state_dir), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"nudge {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def publish(state_dir: Path, scratch: Path, ticket_url: str) -> list[str]:
    """What a marketer does: validate, then push stations, segments, campaigns and the survey
    (its detractor webhook pointed at the demo's ticket desk) with the CLI."""
    files = sorted(str(p) for p in CAMPAIGNS.glob("*.yaml"))
    segments = str(CAMPAIGNS / "segments.yml")
    surveys = []
    for source in (SURVEY, CSAT):
        survey = scratch / source.name
        text = source.read_text()
        for hook in ("nps", "csat"):
            text = text.replace(f"https://support.example.com/hooks/{hook}", ticket_url)
        survey.write_text(text)
        surveys.append(str(survey))
    nudge(state_dir, "campaign", "validate", "--segments", segments, *files)
    nudge(state_dir, "geofences", "push", str(STATIONS))
    nudge(state_dir, "segments", "push", segments)
    nudge(state_dir, "campaign", "push", *files)
    nudge(state_dir, "survey", "push", *surveys)
    nudge(state_dir, "template", "put", str(NOTICE))
    return [Path(f).stem for f in files]


def progress(day: int, started: float) -> None:
    width = 30
    done = int(width * day / DAYS)
    sys.stdout.write(
        f"\r  day {day:>2}/{DAYS} [{'#' * done}{'.' * (width - done)}] "
        f"{time.monotonic() - started:5.1f}s"
    )
    sys.stdout.flush()


def broadcast_works() -> str:
    """Operations tell Dutch-speaking riders about the weekend's works (`nudge broadcast`)."""
    started = nudge(
        DEMO_STATE, "broadcast", "--template", NOTICE.stem, "--where", "locale=nl-NL",
        "--data", "from=Amsterdam", "--data", "to=Utrecht", "--dedupe-key", "works-2026-03-14",
    )  # fmt: skip
    return started.split()[1]  # "broadcast <id> started; ..."


def play(
    client: LocalClient, population: int
) -> tuple[list[dict[str, Any]], Tally, list[User], dict[str, Any]]:
    rng = random.Random(SEED)
    users = make_users(rng, population)
    tally = Tally()
    snapshots: list[dict[str, Any]] = []
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for job in [
            pool.submit(onboard, client, u, random.Random(rng.random()), tally) for u in users
        ]:
            job.result()
        for day in range(DAYS + 1):
            progress(day, started)
            for hour in SLOTS:
                target = START + timedelta(days=day, hours=hour)
                client.session.post(
                    f"{client.api_url}/_local/clock", json={"set": target.isoformat()}, timeout=600
                )
                if day == DAYS:
                    break
                now = datetime.fromisoformat(client.now())
                jobs = []
                for user in users:
                    if day in user.active_days and hour in user.slots:
                        events = session_events(user, now, rng)
                        if rng.random() < 0.03:  # a buggy build sends a malformed event
                            events.append(
                                {"event_id": "x", "name": "purchase", "timestamp": "soon"}
                            )
                        retry, seed = rng.random() < 0.1, rng.random()
                        jobs.append(
                            pool.submit(
                                session, client, user, events, tally, retry, random.Random(seed)
                            )
                        )
                if day == 11 and hour == SLOTS[0]:  # Friday: weekend works, to Dutch speakers
                    tally.broadcast = broadcast_works()
                if day == 10 and hour == SLOTS[0]:
                    jobs += [
                        pool.submit(send_renewal, client, u, tally)
                        for u in users
                        if u.persona == "commuter"
                    ]
                for job in jobs:
                    job.result()
                client.drain()
            report = client.request("GET", "/admin/v1/reports/lifecycle?days=1", admin=True).json()
            snapshots.append({"day": day, **report})
    progress(DAYS, started)
    print()
    final = client.request("GET", f"/admin/v1/reports/lifecycle?days={DAYS + 1}", admin=True).json()
    return snapshots, tally, users, final


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=USERS, help=f"how many (default {USERS})")
    parser.add_argument(
        "--keep", action="store_true", help="leave the stack up with its data (the console)"
    )
    args = parser.parse_args(argv)
    population = args.users
    if population < 10:
        parser.error("--users: at least 10, so that every persona is there")
    started = time.monotonic()
    print("Starting the embedded local stack (moto, gateway, SQS pollers, virtual clock)...")
    process.down(DEMO_STATE)
    state = process.up(
        DEMO_STATE, start=START.isoformat(), parameters={"EngagementConfig": json.dumps(ENGAGEMENT)}
    )
    try:
        with WebhookReceiver() as desk:  # the support team's ticket system
            client = LocalClient(state)
            print(f"  API at {client.api_url}; playing {DAYS} days from {START:%Y-%m-%d}")
            published = publish(DEMO_STATE, DEMO_STATE, desk.url)
            print(f"  pushed with the CLI: {STATIONS.name}, campaigns {', '.join(published)}, ")
            print(f"  and the surveys {SURVEY.stem}, {CSAT.stem} (low scores go to {desk.url})")
            client.advance("1m")  # the pipeline reads the published sets within 30 s
            snapshots, tally, users, final = play(client, population)
            campaigns = client.request(
                "GET", f"/admin/v1/reports/campaigns?days={DAYS + 1}", admin=True
            ).json()
            stats = client.session.get(f"{client.api_url}/_local/stats", timeout=10).json()
            inbox = client.session.get(f"{client.api_url}/_fcm/inbox", timeout=10).json()
            weekly = ["--period", "weekly", "--by", "lifecycle", "--since", f"{DAYS + 1}d"]
            nps = nudge(DEMO_STATE, "nps", "report", SURVEY.stem, *weekly, "--priorities")
            csat = nudge(DEMO_STATE, "nps", "report", CSAT.stem, "--since", f"{DAYS + 1}d")
            works = json.loads(nudge(DEMO_STATE, "broadcast-status", tally.broadcast, "--json"))
            seconds = time.monotonic() - started
            queues = client.queues()
            period = ["--since", f"{DAYS + 1}d"]  # every day played, for lift and variants
            departures = nudge(DEMO_STATE, "report", "campaign", "station-departures", *period)
            by_country = ["--by", "country", "--rank-by", "open", *period]
            regions = nudge(
                DEMO_STATE, "report", "regions", "--category", "product_updates", *by_country
            )
            model = nudge(
                DEMO_STATE, "report", "regions", "--category", "product_updates", "--metric", "open"
            )
            sunset = nudge(DEMO_STATE, "report", "sunset", *period)
            outcome = Outcome(
                final=final,
                tally=tally,
                users=users,
                seconds=seconds,
                stats=stats,
                queues=queues,
                pushes=inbox["messages"],
                campaigns=campaigns,
                works=works,
                departures=departures,
                nps=nps,
                csat=csat,
                regions=regions + "\n" + model,
                tickets=len(desk.delivered),
                sunset=sunset,
            )
            print_outcome(outcome, survey=SURVEY.stem, notice=NOTICE.stem)
            REPORT_DIR.mkdir(parents=True, exist_ok=True)
            html = REPORT_DIR / "report.html"
            nudge(DEMO_STATE, "report", "html", "--out", str(html), *period)
        print_files([html, *charts(snapshots, final)])
        expected_at_risk = sum(1 for u in users if u.persona == "lapsing")
        if final["stages"]["at_risk"] + final["stages"]["dormant"] < expected_at_risk // 2:
            print("\nunexpected: lapsing users did not decay", file=sys.stderr)
            return 1
        departures = campaigns["campaigns"]["station-departures"]
        if departures["lift"]["verdict"] == "not_enough_data":  # the planted effect is measured
            print("\nunexpected: no lift verdict for station-departures", file=sys.stderr)
            return 1
        return 0
    except BaseException:
        args.keep = False  # a broken run leaves nothing behind
        raise
    finally:
        if args.keep:
            print_console(str(state["api_url"]))
        else:
            process.down(DEMO_STATE)


def print_console(api_url: str) -> None:
    """What `make demo KEEP=1` leaves: the stack with the demo's data, for the console."""
    state_dir = DEMO_STATE.relative_to(PROJECT_ROOT)
    print("\nThe stack stays up with the demo's data (make demo KEEP=1):")
    print(f"  console   {api_url}/console")
    print("  sign in: pick a role (viewer, marketer, privacy) on the local dev sign-in page")
    print(f"  stop it   .venv/bin/nudge local down --state-dir {state_dir}")


if __name__ == "__main__":
    raise SystemExit(main())
