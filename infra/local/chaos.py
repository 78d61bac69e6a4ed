"""`make chaos`: a fixed workload through the real HTTP API with faults on purpose, accounted.

The stack starts with a fault plan (`nudge_local.faults`): 20 % of the functions' DynamoDB
calls throttled (ProvisionedThroughputExceededException or ThrottlingException), a few SQS
sends failed (whole requests, and batch entries one by one), and 20 % of FCM sends answered
429 QUOTA_EXCEEDED or 503 UNAVAILABLE with a Retry-After. A seeded workload is played through
the gateway as the apps and backends would send it: 50 users over 2 virtual days, sessions
split in two requests and all requests shuffled (out of order), 15 % sent twice
(duplicates), every 5xx and every "retry this event" retried with the same ids; the
onboarding campaign, a broadcast to everyone, transactional messages (each queued twice by
its backend) and the NPS survey after trips. The clock then moves on (hours, for deferred
pushes and redeliveries, then a day; `--lifecycle-days 8` reaches the scheduler's lifecycle
checks, slowly).

Then every event and push is accounted for (`nudge_local.chaos_account`), and the same
workload is played again without faults: the final profiles, campaign counters and
broadcast outcomes must be the same. The last line is the account; the exit status is not 0
if a push reached a device twice, anything is unaccounted for, or the runs differ.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from nudge_local import chaos_account, process
from nudge_local.client import LocalClient
from nudge_local.faults import ENV
from nudge_local.template import PROJECT_ROOT
from nudge_local.webhook import WebhookReceiver

STATE = PROJECT_ROOT / ".nudge" / "chaos"
START = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # a Monday
SEED = 20261206
CAMPAIGNS = PROJECT_ROOT / "events" / "campaigns"
TEMPLATES = PROJECT_ROOT / "events" / "templates"
SURVEY = PROJECT_ROOT / "events" / "surveys" / "nps-after-trip.yaml"
RETRYABLE_STATUS = {429, 500, 502, 503, 504}
ATTEMPTS = 10  # what a client tries before it gives up on a request
_STARTING = threading.Lock()


def fault_plan(
    seed: int,
    ddb_rate: float,
    fcm_rate: float,
    sqs_rate: float,
    ddb_functions: list[str] | None = None,
) -> dict[str, Any]:
    """The plan of a chaos run; `ddb_functions` throttles only those functions' tables."""
    throttles = ["ProvisionedThroughputExceededException", "ThrottlingException"]
    ddb: dict[str, Any] = {"service": "dynamodb", "error": throttles, "rate": ddb_rate}
    if ddb_functions:
        ddb["functions"] = ddb_functions
    rules: list[dict[str, Any]] = [
        ddb,
        {"service": "sqs", "operations": ["SendMessageBatch"], "error": "BatchEntryFailed",
         "rate": sqs_rate / 2},
        {"service": "sqs", "operations": ["SendMessage", "SendMessageBatch"],
         "error": ["InternalFailure", "ServiceUnavailable"], "rate": sqs_rate / 2},
    ]  # fmt: skip
    fcm = {"rate": fcm_rate, "errors": ["QUOTA_EXCEEDED", "UNAVAILABLE"], "seed": seed}
    return {"seed": seed, "rules": [r for r in rules if r["rate"]], "fcm": fcm}


@dataclass
class Workload:
    users: int = 50
    days: int = 2
    seed: int = SEED
    duplicate_rate: float = 0.15
    transactional_share: float = 0.3
    broadcast_users: int | None = None  # None: everyone with a device
    # how far the clock moves at the end, for the scheduler (8: lifecycle checks after a week
    # of silence; under throttling each scheduler run costs ~25 s of back-off, so not default)
    lifecycle_days: int = 1


@dataclass
class Played:
    """What the clients were told: the left side of the account."""

    accepted: set[tuple[str, str]] = field(default_factory=set)  # (user, event id)
    sent_events: set[tuple[str, str]] = field(default_factory=set)
    gave_up: list[str] = field(default_factory=list)  # requests that never got an answer
    transactional: dict[str, str] = field(default_factory=dict)  # dedupe key -> user
    broadcast_id: str = ""
    requests: int = 0
    retries: int = 0
    duplicates_sent: int = 0
    survey_answers: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class App:
    """The phones and backends: every request retried on 5xx, as a good client does."""

    def __init__(self, client: LocalClient, played: Played) -> None:
        self.client = client
        self.played = played

    def call(self, what: str, send: Callable[[], requests.Response]) -> requests.Response | None:
        for attempt in range(ATTEMPTS):
            with self.played.lock:
                self.played.requests += 1
                self.played.retries += attempt > 0
            try:
                response = send()
            except requests.RequestException:
                response = None
            if response is not None and response.status_code not in RETRYABLE_STATUS:
                return response
            time.sleep(min(2.0, 0.05 * 2**attempt))
        with self.played.lock:
            self.played.gave_up.append(what)
        return None

    def _post(self, user: str, events: list[dict[str, Any]]) -> requests.Response:
        return self.client.post_events(user, events)

    def post_events(self, user: str, events: list[dict[str, Any]]) -> None:
        pending = events
        with self.played.lock:
            self.played.sent_events.update((user, e["event_id"]) for e in events)
        for _ in range(ATTEMPTS):
            response = self.call(f"events {user}", functools.partial(self._post, user, pending))
            if response is None or response.status_code != 202:
                return
            body = response.json()
            refused = {r["index"]: r for r in body["rejected"]}
            with self.played.lock:
                self.played.accepted.update(
                    (user, e["event_id"]) for i, e in enumerate(pending) if i not in refused
                )
            pending = [pending[i] for i, r in refused.items() if "retry" in r["error"]]
            if not pending:
                return
        with self.played.lock:
            self.played.gave_up.append(f"events {user}: {len(pending)} never accepted")

    def ok(self, what: str, method: str, path: str, **kwargs: Any) -> requests.Response | None:
        response = self.call(what, lambda: self.client.request(method, path, **kwargs))
        if response is not None and not response.ok and response.status_code != 404:
            with self.played.lock:
                self.played.gave_up.append(f"{what}: {response.status_code} {response.text[:120]}")
        return response


def nudge_cli(state_dir: Path, *args: str) -> str:
    """The `nudge` CLI, retried like any client (each admin call may be throttled)."""
    output = ""
    for _ in range(ATTEMPTS):
        result = subprocess.run(
            [str(Path(sys.executable).with_name("nudge")), "--state-dir", str(state_dir), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if result.returncode == 0:
            return result.stdout
        output = result.stdout + result.stderr
        time.sleep(0.5)
    raise RuntimeError(f"nudge {' '.join(args)} kept failing:\n{output}")


def publish(state_dir: Path, ticket_url: str) -> None:
    """Segments, the onboarding campaign, the templates and the NPS survey, with the CLI."""
    survey = state_dir / SURVEY.name
    text = SURVEY.read_text().replace("https://support.example.com/hooks/nps", ticket_url)
    # asked from the second day on (the run is short): tenure of a day, new users too
    text = text.replace("min_tenure_days: 3", "min_tenure_days: 1").replace(
        "lifecycle: [active,", "lifecycle: [new, active,"
    )
    survey.write_text(text)
    nudge_cli(state_dir, "segments", "push", str(CAMPAIGNS / "segments.yml"))
    nudge_cli(state_dir, "campaign", "push", str(CAMPAIGNS / "onboarding.yaml"))
    nudge_cli(state_dir, "survey", "push", str(survey))
    for template in ("order_shipped", "engineering_works"):
        nudge_cli(state_dir, "template", "put", str(TEMPLATES / f"{template}.yaml"))


def user_ids(workload: Workload) -> list[str]:
    return [f"chaos-{n:03d}" for n in range(workload.users)]


def device_of(user: str, seed: int) -> dict[str, Any]:
    rng = random.Random(f"{seed}:{user}")
    return {
        "token": f"tok-{user}",
        "platform": rng.choice(["ios", "android"]),
        "app_version": "4.2.0",
        "locale": rng.choice(["nl-NL", "en-GB"]),
        "timezone": "Europe/Amsterdam",
    }


def refresh_device(app: App, user: str, seed: int) -> None:
    """The app registers its token at every launch (the device facts come along)."""
    body = device_of(user, seed)
    app.ok(f"device {user}", "PUT", "/v1/devices/main", user=user, json_body=body)


def onboard(app: App, user: str, seed: int) -> None:
    refresh_device(app, user, seed)
    # Quiet hours off: a send that injected faults delay into a user's quiet hours is (rightly)
    # deferred or dropped, which would make the two runs differ by timing, not by a loss.
    body: dict[str, Any] = {"quiet_hours": None}
    if random.Random(f"{seed}:{user}:marketing").random() < 0.7:
        body["categories"] = {"marketing": True}
    app.ok(f"preferences {user}", "PUT", "/v1/me/preferences", user=user, json_body=body)


def day_events(
    user: str, day: int, at: datetime, rng: random.Random, first: bool
) -> list[dict[str, Any]]:
    def event(name: str, minutes_ago: int, **props: Any) -> dict[str, Any]:
        return {
            "event_id": f"{user}-d{day}-{rng.getrandbits(48):012x}",
            "name": name,
            "timestamp": (at - timedelta(minutes=minutes_ago)).isoformat(),
            "properties": props,
        }

    events = [event("session_start", 20, app_version="4.2.0")]
    if first:
        events.append(event("signup_completed", 19))
    events += [event("screen_view", 18 - i, screen="departures") for i in range(rng.randint(1, 3))]
    if rng.random() < 0.5:
        events.append(event("ticket_purchased", 10, amount=round(rng.uniform(2.5, 9), 2)))
    if day >= 1 and rng.random() < 0.6:
        events.append(event("trip_completed", 1, kind="commute"))
    return events


def play_day(app: App, workload: Workload, day: int, rng: random.Random) -> None:
    """Each active user's session, split in two requests; the requests of everyone go out
    shuffled (so a session's second half often arrives first), some of them twice."""
    client, users = app.client, user_ids(workload)
    client.session.post(
        f"{client.api_url}/_local/clock",
        json={"set": (START + timedelta(days=day, hours=9)).isoformat()},
        timeout=600,
    )
    at = datetime.fromisoformat(client.now())
    requests_: list[tuple[str, list[dict[str, Any]]]] = []
    launched, travelled = [], []
    for user in users:
        if day > 0 and rng.random() < 0.25:
            continue  # not every user opens the app every day
        launched.append(user)
        events = day_events(user, day, at, rng, first=day == 0)
        if any(e["name"] == "trip_completed" for e in events):
            travelled.append(user)
        cut = rng.randint(1, len(events))
        halves = [events[:cut], events[cut:]] if cut < len(events) else [events]
        requests_ += [(user, half) for half in halves]
    duplicates = [r for r in requests_ if rng.random() < workload.duplicate_rate]
    requests_ += duplicates
    app.played.duplicates_sent += sum(len(events) for _, events in duplicates)
    rng.shuffle(requests_)
    with ThreadPoolExecutor(max_workers=6) as pool:
        # the app registers its token again at launch (on the last day: each costs a round)
        last = day == workload.days - 1 and day > 0
        refreshes = [pool.submit(refresh_device, app, u, workload.seed) for u in launched if last]
        for job in [*refreshes, *[pool.submit(app.post_events, u, e) for u, e in requests_]]:
            job.result()
        if day == 0:  # the shop's backend: an order shipped, queued twice (it retries)
            buyers = [u for u in users if rng.random() < workload.transactional_share]
            for job in [pool.submit(send_order_update, app, u) for u in buyers]:
                job.result()
        if day == min(1, workload.days - 1):  # operations: weekend works, to everyone
            app.played.broadcast_id = broadcast(app, workload, users)
    client.drain(timeout_s=300)
    with ThreadPoolExecutor(max_workers=6) as pool:  # after a trip, the app asks for a survey
        for job in [pool.submit(answer_survey, app, u) for u in travelled]:
            job.result()


def send_order_update(app: App, user: str) -> None:
    key = f"order-{user}"
    body = {
        "template_id": "order_shipped",
        "data": {"order_id": f"A-{user[-3:]}", "eta": "Friday"},
        "dedupe_key": key,
    }
    for _ in range(2):
        response = app.ok(
            f"message {user}", "POST", f"/admin/v1/users/{user}/messages", admin=True,
            json_body=body,
        )  # fmt: skip
        if response is not None and response.status_code == 202:
            with app.played.lock:
                app.played.transactional[key] = user


def broadcast(app: App, workload: Workload, users: list[str]) -> str:
    some = workload.broadcast_users
    body = {
        "template_id": "engineering_works",
        "data": {"from": "Amsterdam", "to": "Utrecht"},
        "target": {"all_users": True} if some is None else {"user_ids": users[:some]},
        "dedupe_key": "works-chaos",
    }
    response = app.ok("broadcast", "POST", "/admin/v1/broadcasts", admin=True, json_body=body)
    return str(response.json()["broadcast_id"]) if response is not None and response.ok else ""


def answer_survey(app: App, user: str) -> None:
    """The app asks for a pending NPS prompt at launch and answers it (scores by user)."""
    shown = app.ok(f"survey {user}", "GET", "/v1/me/surveys/next", user=user)
    if shown is None or shown.status_code != 200:
        return
    prompt = shown.json()
    score = int(user[-3:]) % 11
    answer = {
        "prompt_id": prompt["prompt_id"],
        "response_id": f"r-{user}",
        "answered_at": app.client.now(),
        "score": score,
        "reason": "Trains were late" if score < 7 else "Quick tickets",
        "platform": "ios",
        "country": "NL",
    }
    path = f"/v1/surveys/{prompt['survey_id']}/responses"
    response = app.ok(f"answer {user}", "POST", path, user=user, json_body=answer)
    if response is not None and response.ok:
        with app.played.lock:
            app.played.survey_answers += 1


def settle(client: LocalClient, lifecycle_days: int) -> None:
    """Let time pass: deferred pushes (FCM's Retry-After) and redeliveries, then days for
    the scheduler (8 reach its lifecycle checks: a week without a session is at_risk)."""

    def until_quiet() -> None:
        for _ in range(12):  # a push FCM refused again is parked until the clock moves again
            client.advance("1h")
            client.drain(timeout_s=300)
            depths = client.queues()
            if not any(any(d.values()) for q, d in depths.items() if not q.endswith("DLQ")):
                return

    until_quiet()
    if lifecycle_days:
        client.advance(f"{lifecycle_days}d")
        client.drain(timeout_s=300)
        until_quiet()


def run(
    workload: Workload, plan: dict[str, Any] | None, state_dir: Path, label: str
) -> chaos_account.Outcome:
    started = time.monotonic()
    process.down(state_dir)
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.mkdir(parents=True)
    with _STARTING:  # the plan travels in the environment of the stack's process
        if plan:
            os.environ[ENV] = json.dumps(plan)  # the stack passes it to every function
        try:
            state = process.up(state_dir, start=START.isoformat())
        finally:
            os.environ.pop(ENV, None)
    try:
        with WebhookReceiver() as desk:
            client = LocalClient(state, timeout_s=120)
            print(f"  {label}: stack up {time.monotonic() - started:.0f}s")
            publish(state_dir, desk.url)
            client.advance("1m")  # the pipeline reads the published configs
            print(f"  {label}: configs published {time.monotonic() - started:.0f}s")
            played = Played()
            app = App(client, played)
            rng = random.Random(workload.seed)
            with ThreadPoolExecutor(max_workers=6) as pool:
                for job in [
                    pool.submit(onboard, app, u, workload.seed) for u in user_ids(workload)
                ]:
                    job.result()
            for day in range(workload.days):
                play_day(app, workload, day, rng)
                print(f"  {label}: day {day + 1}/{workload.days} {time.monotonic() - started:.0f}s")
            settle(client, workload.lifecycle_days)
            print(f"  {label}: settled {time.monotonic() - started:.0f}s")
            outcome = chaos_account.collect(state, state_dir, played, user_ids(workload))
            outcome.seconds = time.monotonic() - started
            return outcome
    finally:
        process.down(state_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make chaos", description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--ddb-rate", type=float, default=0.2, help="DynamoDB calls throttled")
    parser.add_argument("--fcm-rate", type=float, default=0.2, help="FCM sends failed")
    parser.add_argument("--sqs-rate", type=float, default=0.05, help="SQS sends failed")
    parser.add_argument(
        "--lifecycle-days", type=int, default=1, help="days the clock moves at the end (8: at_risk)"
    )
    parser.add_argument("--no-compare", action="store_true", help="skip the run without faults")
    parser.add_argument("--state-dir", type=Path, default=STATE)
    args = parser.parse_args(argv)
    workload = Workload(
        users=args.users, days=args.days, seed=args.seed, lifecycle_days=args.lifecycle_days
    )
    plan = fault_plan(args.seed, args.ddb_rate, args.fcm_rate, args.sqs_rate)
    started = time.monotonic()
    print(
        f"chaos: {workload.users} users, {workload.days} virtual days; faults: {json.dumps(plan)}"
    )
    differences: list[str] = []
    # both at once: the run with faults mostly waits (botocore's back-off, FCM's Retry-After)
    with ThreadPoolExecutor(max_workers=2) as pool:
        with_faults = pool.submit(run, workload, plan, args.state_dir / "faults", "with faults")
        if not args.no_compare:
            without = pool.submit(run, workload, None, args.state_dir / "clean", "without faults")
            differences = chaos_account.compare(with_faults.result(), without.result())
        faulty = with_faults.result()
    chaos_account.report(faulty, differences, compared=not args.no_compare)
    print(f"wall time {time.monotonic() - started:.0f}s")
    print(faulty.line())
    return 1 if faulty.failed() or differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
