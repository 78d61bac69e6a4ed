"""`make demo`: 30 virtual days of app users through the real HTTP API of the local stack.

Personas (seeded, so every run tells the same story):
  commuters  - weekday mornings and evenings: sessions, tickets     -> active, then loyal
  planners   - a few evenings a week: browsing weekend trips, buying -> active
  lapsing    - keen for a week, then gone                           -> at_risk
  returning  - a few days, away for two weeks, then back            -> reactivated
  one-shot   - open the app once                                    -> at_risk, then dormant
Four campaigns from events/campaigns/ run throughout (pushed with the `nudge` CLI): onboarding
for new users, a win-back for at_risk past buyers, an interest-based weekend-trip idea and a
Monday 09:00-local digest. The demo also retries requests (duplicates), sends a few malformed
events, and ends with lifecycle and campaign reports and charts in reports/demo/.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nudge.cli import print_campaigns
from nudge_local import process
from nudge_local.client import LocalClient
from nudge_local.template import PROJECT_ROOT

DEMO_STATE = PROJECT_ROOT / ".nudge" / "demo"
REPORT_DIR = PROJECT_ROOT / "reports" / "demo"
START = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)  # a Monday
DAYS = 30
SLOTS = (8, 13, 19)  # hours of the day when users may open the app
SEED = 20261123
CAMPAIGNS = PROJECT_ROOT / "events" / "campaigns"
# The app's interest mapping: a viewed destination's theme is an interest (weekend_trips...).
ENGAGEMENT = {"interests": [{"event": "destination_viewed", "from_property": "theme"}]}
DESTINATIONS = {
    "weekend_trips": ["Bruges", "Maastricht", "Giethoorn"],
    "city_breaks": ["Paris", "London", "Cologne"],
}


@dataclass
class User:
    user_id: str
    persona: str
    active_days: set[int]
    slots: tuple[int, ...]
    sent: int = 0
    opted_in: bool = False
    signed_up: bool = False
    theme: str = "weekend_trips"


ZONES = ["Europe/Amsterdam", "Europe/Brussels", "Europe/London", "America/New_York", "Asia/Tokyo"]


@dataclass
class Tally:
    devices: int = 0
    marketing_opt_ins: int = 0
    marketing_opt_outs: int = 0
    messages_queued: int = 0
    requests: int = 0
    accepted: int = 0
    rejected: int = 0
    retried: int = 0
    errors: Counter[int] = field(default_factory=Counter)


def make_users(rng: random.Random) -> list[User]:
    users: list[User] = []

    def add(persona: str, count: int, days: Any, slots: tuple[int, ...]) -> None:
        for _ in range(count):
            chosen = days(rng) if callable(days) else days
            users.append(
                User(
                    f"{persona}-{uuid.UUID(int=rng.getrandbits(128)).hex[:8]}",
                    persona,
                    set(chosen),
                    slots,
                    theme=rng.choice(sorted(DESTINATIONS)),
                )
            )

    weekdays = [d for d in range(DAYS) if d % 7 < 5]
    add("commuter", 45, lambda r: [d for d in weekdays if r.random() < 0.9], (8, 19))
    add("planner", 40, lambda r: [d for d in range(DAYS) if r.random() < 0.35], (19,))
    add("lapsing", 25, lambda r: [d for d in range(8) if r.random() < 0.8] + [0], (13,))
    add(
        "returning",
        20,
        lambda r: [0, 1, 2] + [d for d in range(18, DAYS) if r.random() < 0.6],
        (13, 19),
    )
    add("one-shot", 20, [0], (13,))
    return users


def session_events(user: User, now: datetime, rng: random.Random) -> list[dict[str, Any]]:
    def event(name: str, minutes_ago: int, **props: Any) -> dict[str, Any]:
        return {
            "event_id": uuid.UUID(int=rng.getrandbits(128)).hex,
            "name": name,
            "timestamp": (now - timedelta(minutes=minutes_ago)).isoformat(),
            "properties": props,
        }

    events = [event("session_start", 6, app_version="4.2.0")]
    if not user.signed_up:
        events.append(event("signup_completed", 6))
        user.signed_up = True
    if user.persona == "commuter":
        events.append(event("ticket_purchased", 5, amount=round(rng.uniform(2.5, 9), 2)))
        events += [event("screen_view", 4, screen="departures") for _ in range(rng.randint(1, 3))]
    elif user.persona == "planner":
        theme = user.theme
        events += [
            event(
                "destination_viewed",
                5 - i,
                theme=theme,
                destination=rng.choice(DESTINATIONS[theme]),
            )
            for i in range(rng.randint(1, 3))
        ]
        if rng.random() < 0.3:
            events.append(event("ticket_purchased", 1, amount=round(rng.uniform(15, 120), 2)))
    else:
        if user.persona == "lapsing" and rng.random() < 0.5:
            events.append(event("ticket_purchased", 4, amount=round(rng.uniform(2.5, 9), 2)))
        events += [event("screen_view", 3, screen="home") for _ in range(rng.randint(1, 2))]
    return events


def post(
    client: LocalClient, user: User, events: list[dict[str, Any]], tally: Tally, retry: bool
) -> None:
    response = client.post_events(user.user_id, events)
    tally.requests += 1
    if response.status_code != 202:
        tally.errors[response.status_code] += 1
        return
    body = response.json()
    tally.accepted += body["accepted"]
    tally.rejected += len(body["rejected"])
    user.sent += body["accepted"]
    if retry:  # the app lost the response and sent the same events again
        client.post_events(user.user_id, events)
        tally.retried += len(events)
        tally.requests += 1


def onboard(client: LocalClient, user: User, rng: random.Random, tally: Tally) -> None:
    """First launch: register the phone's FCM token; some say yes to marketing."""
    body = {
        "token": f"demo-{uuid.UUID(int=rng.getrandbits(128)).hex}",
        "platform": rng.choice(["ios", "android"]),
        "app_version": "4.2.0",
        "locale": rng.choice(["nl-NL", "en-GB", "de-DE", "fr-BE"]),
        "timezone": rng.choice(ZONES),
    }
    if client.request("PUT", "/v1/devices/main", user=user.user_id, json_body=body).ok:
        tally.devices += 1
    if rng.random() < 0.45:
        update = {"categories": {"marketing": True}}
        if client.request("PUT", "/v1/me/preferences", user=user.user_id, json_body=update).ok:
            tally.marketing_opt_ins += 1
            user.opted_in = True


PASS_RENEWAL = {
    "template": {
        "id": "pass-renewal",
        "category": "transactional",
        "text": {
            "en": {
                "title": "Your monthly pass renews tomorrow",
                "body": "€{{ price }}, no action needed.",
            },
            "nl": {
                "title": "Je maandabonnement wordt morgen verlengd",
                "body": "€{{ price }}, je hoeft niets te doen.",
            },
        },
        "android": {"channel_id": "account"},
    },
    "data": {"price": "89.50"},
}


def send_renewal(client: LocalClient, user: User, tally: Tally) -> None:
    """The ticketing backend's transactional message: through the admin API and push_sender."""
    body = {**PASS_RENEWAL, "dedupe_key": f"renewal-2026-03-{user.user_id}"}
    for _ in range(2):  # the backend retries; the dedupe key keeps it to one push
        response = client.request(
            "POST", f"/admin/v1/users/{user.user_id}/messages", admin=True, json_body=body
        )
        tally.messages_queued += response.status_code == 202


def opt_out(client: LocalClient, user: User, tally: Tally) -> None:
    update = {"categories": {"marketing": False}}
    if client.request("PUT", "/v1/me/preferences", user=user.user_id, json_body=update).ok:
        tally.marketing_opt_outs += 1


def publish_campaigns(state_dir: Path) -> list[str]:
    """What a marketer does: validate, then push the segments and campaigns with the CLI."""
    nudge = str(Path(sys.executable).with_name("nudge"))
    files = sorted(str(p) for p in CAMPAIGNS.glob("*.yaml"))
    segments = str(CAMPAIGNS / "segments.yml")
    steps = [
        ["campaign", "validate", "--segments", segments, *files],
        ["segments", "push", segments],
        ["campaign", "push", *files],
    ]
    for step in steps:
        result = subprocess.run(
            [nudge, "--state-dir", str(state_dir), *step],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"nudge {' '.join(step)} failed:\n{result.stdout}{result.stderr}")
    return [Path(f).stem for f in files]


def progress(day: int, started: float) -> None:
    width = 30
    done = int(width * day / DAYS)
    sys.stdout.write(
        f"\r  day {day:>2}/{DAYS} [{'#' * done}{'.' * (width - done)}] "
        f"{time.monotonic() - started:5.1f}s"
    )
    sys.stdout.flush()


def play(client: LocalClient) -> tuple[list[dict[str, Any]], Tally, list[User], dict[str, Any]]:
    rng = random.Random(SEED)
    users = make_users(rng)
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
                        jobs.append(
                            pool.submit(post, client, user, events, tally, rng.random() < 0.1)
                        )
                if day == 10 and hour == SLOTS[0]:
                    jobs += [
                        pool.submit(send_renewal, client, u, tally)
                        for u in users
                        if u.persona == "commuter"
                    ]
                if day == 15 and hour == SLOTS[-1]:  # a heavy-handed week: some opt out
                    jobs += [
                        pool.submit(opt_out, client, u, tally)
                        for u in users
                        if u.opted_in and rng.random() < 0.2
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
    print(f"  marketing opt-outs     {tally.marketing_opt_outs} (each one in the audit trail)")
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


def main() -> int:
    started = time.monotonic()
    print("Starting the embedded local stack (moto, gateway, SQS pollers, virtual clock)...")
    process.down(DEMO_STATE)
    state = process.up(
        DEMO_STATE, start=START.isoformat(), parameters={"EngagementConfig": json.dumps(ENGAGEMENT)}
    )
    try:
        client = LocalClient(state)
        print(f"  API at {client.api_url}; playing {DAYS} days from {START:%Y-%m-%d}")
        published = publish_campaigns(DEMO_STATE)
        print(f"  campaigns pushed with the CLI: {', '.join(published)}")
        client.advance("1m")  # the pipeline reads the published set within 30 s
        snapshots, tally, users, final = play(client)
        campaigns = client.request(
            "GET", f"/admin/v1/reports/campaigns?days={DAYS + 1}", admin=True
        ).json()
        stats = client.session.get(f"{client.api_url}/_local/stats", timeout=10).json()
        inbox = client.session.get(f"{client.api_url}/_fcm/inbox", timeout=10).json()
        seconds = time.monotonic() - started
        report(final, tally, users, seconds, stats, client.queues(), inbox["messages"])
        print()
        print_campaigns(campaigns)
        paths = charts(snapshots, final)
        print("\nCharts")
        for path in paths:
            print(f"  {path.relative_to(PROJECT_ROOT)}")
        expected_at_risk = sum(1 for u in users if u.persona == "lapsing")
        if final["stages"]["at_risk"] + final["stages"]["dormant"] < expected_at_risk // 2:
            print("\nunexpected: lapsing users did not decay", file=sys.stderr)
            return 1
        return 0
    finally:
        process.down(DEMO_STATE)


if __name__ == "__main__":
    raise SystemExit(main())
