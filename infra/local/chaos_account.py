"""The account of a chaos run (`nudge_local.chaos`): where every event and push ended up.

Read straight from moto and the FCM emulator (as the operator: no faults on these reads):

- events: accepted (each event id a 202 accepted) = applied (its history record, which is
  the processor's dedupe record) + dead-lettered (in the events DLQ) + unaccounted;
- pushes, one per user and dedupe key ("queued": the transactional messages the admin API
  answered 202 for, the broadcast's `enqueued` and the campaign's `sent` counters) =
  delivered (a `sent` record in the delivery log, cross-checked with what FCM received) +
  suppressed (a suppression or a permanent failure recorded) + dead-lettered (the pushes
  DLQ) + unaccounted (including claims left `sending`/`retry` with no outcome);
- duplicates: a user's device receiving the same message (job, or template: each is sent
  once per user in the workload) more than once.
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import requests
from boto3.dynamodb.types import TypeDeserializer

from nudge.adapters import history_items
from nudge_local import faults
from nudge_local.client import LocalClient

_DESERIALIZE = TypeDeserializer()
# a profile as compared between runs: what the events made of it, not how often it was
# written (its version `v`, the recent events' fingerprints `r`, the due-index bucket)
VOLATILE = {"v", "version", "r", "updated_at", "due_bucket", "expires_at"}
HOUR = 3_600
_EPOCH_RANGE = (1_500_000_000, 2_500_000_000)


def _hourly(value: Any) -> Any:
    """Times the server took from its (virtual) clock, say when a device registered, move
    by the seconds a slower run takes: they are compared to the hour. The events' own
    timestamps are on the hour's grid of the workload anyway."""
    if isinstance(value, dict):
        return {k: _hourly(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hourly(v) for v in value]
    epoch = isinstance(value, int) and not isinstance(value, bool)
    if epoch and _EPOCH_RANGE[0] <= value <= _EPOCH_RANGE[1]:
        return value - value % HOUR
    return value


def profile_view(item: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {}
    for key, value in item.items():
        if key in VOLATILE:
            continue
        value = _number(value)
        if isinstance(value, str) and value[:1] in "{[":
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        if isinstance(value, dict):
            value = {k: v for k, v in value.items() if k not in VOLATILE}
        view[key] = _hourly(value)
    return view


@dataclass
class Outcome:
    accepted: int = 0
    applied: int = 0
    events_dead: int = 0
    events_lost: list[str] = field(default_factory=list)
    applied_unacknowledged: int = 0  # applied, but no 202 reached the client (it retried)
    queued: int = 0
    queued_by: dict[str, int] = field(default_factory=dict)
    delivered: int = 0
    suppressed: int = 0
    pushes_dead: int = 0
    push_problems: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    fcm_received: int = 0
    profiles: dict[str, Any] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)
    deliveries: set[tuple[str, str]] = field(default_factory=set)  # (user, template) at FCM
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def events_unaccounted(self) -> int:
        return len(self.events_lost)

    @property
    def pushes_unaccounted(self) -> int:
        gap = abs(self.queued - self.delivered - self.suppressed - self.pushes_dead)
        return max(gap, len(self.push_problems))

    def line(self) -> str:
        return (
            f"chaos: events accepted {self.accepted} = applied {self.applied} + dead-lettered "
            f"{self.events_dead}; pushes queued {self.queued} = delivered {self.delivered} + "
            f"suppressed {self.suppressed} + dead-lettered {self.pushes_dead}; duplicates "
            f"{len(self.duplicates)}; unaccounted "
            f"{self.events_unaccounted + self.pushes_unaccounted}"
        )

    def failed(self) -> bool:
        return bool(self.duplicates) or self.events_unaccounted + self.pushes_unaccounted > 0


def _items(ddb: Any, table: str) -> list[dict[str, Any]]:
    items, kwargs = [], {"TableName": table}
    while True:
        page = ddb.scan(**kwargs)
        items += [{k: _DESERIALIZE.deserialize(v) for k, v in i.items()} for i in page["Items"]]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _queue_bodies(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message in a DLQ (received, not deleted: they stay for a look afterwards)."""
    bodies: list[dict[str, Any]] = []
    seen: set[str] = set()
    while True:
        batch = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=120, WaitTimeSeconds=0
        ).get("Messages", [])
        fresh = [m for m in batch if m["MessageId"] not in seen]
        if not fresh:
            return bodies
        for message in fresh:
            seen.add(message["MessageId"])
            try:
                bodies.append(json.loads(message["Body"]))
            except ValueError:
                bodies.append({"unparsable": message["Body"][:200]})


def _admin_get(client: LocalClient, path: str) -> Any:
    for _ in range(10):
        try:
            response = client.request("GET", path, admin=True)
        except requests.RequestException:
            continue
        if response.ok:
            return response.json()
    return None


def _number(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _number(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_number(v) for v in (sorted(value, key=str) if isinstance(value, set) else value)]
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    return value


def counter_name(key: str) -> str:
    """A named counter's item key ('#stats#<name>#<shard>') as compared between runs: its
    shards added up, a campaign's days too (a retried push may land a day later) and a
    broadcast's id left out (each run has its own)."""
    name = key.removeprefix("#stats#").rpartition("#")[0].removeprefix("c#")
    kind, _, rest = name.partition("#")
    if kind == "campaign":
        return f"campaign:{rest.partition('#')[0]}"
    if kind == "broadcast":
        return "broadcast"
    return name


def collect(state: dict[str, Any], state_dir: Path, played: Any, users: list[str]) -> Outcome:
    session = boto3.session.Session(
        aws_access_key_id="testing",
        aws_secret_access_key="testing",  # noqa: S106 - moto's, on loopback
        region_name=state["region"],
    )
    ddb = session.client("dynamodb", endpoint_url=state["moto_url"])
    sqs = session.client("sqs", endpoint_url=state["moto_url"])
    tables, queues = state["tables"], state["queues"]
    ours = set(users)
    out = Outcome()

    # ---------- events ----------
    history = {
        (i["user_id"], record["event_id"])
        for i in _items(ddb, tables["HistoryTable"])
        if i["sk"].startswith(history_items.PREFIX) and i["user_id"] in ours
        for record in history_items.decode(i["z"].value)
    }
    dead_events = {
        (body.get("user_id"), event.get("event_id"))
        for body in _queue_bodies(sqs, queues["EventsDLQ"])
        for event in body.get("events", [])
    }
    accepted = played.accepted
    out.accepted = len(accepted)
    out.applied = len(accepted & history)
    out.events_dead = len((accepted - history) & dead_events)
    out.events_lost = sorted(f"{u}/{e}" for u, e in accepted - history - dead_events)
    out.applied_unacknowledged = len((history - accepted) & played.sent_events)

    # ---------- what FCM received ----------
    fcm = requests.get(f"{state['api_url']}/_local/fcm", timeout=30).json()
    out.fcm_received = sum(m.get("token", "").removeprefix("tok-") in ours for m in fcm["messages"])
    by_job: Counter[tuple[str, str]] = Counter()
    by_template: Counter[tuple[str, str]] = Counter()
    for message in fcm["messages"]:
        token, data = message.get("token", ""), message.get("data", {})
        if token.removeprefix("tok-") not in ours:
            continue  # someone else's (a probe while the run was going)
        by_job[(data.get("job_id", ""), token)] += 1
        by_template[(token.removeprefix("tok-"), data.get("template_id", ""))] += 1
    out.duplicates = [f"job {j} to {t}: {n} times" for (j, t), n in by_job.items() if n > 1]
    out.duplicates += [
        f"{u}: {t} received {n} times"
        for (u, t), n in by_template.items()
        if n > 1 and not any(d.startswith("job") and u in d for d in out.duplicates)
    ]

    # ---------- pushes ----------
    log = [i for i in _items(ddb, tables["DeliveryLogTable"]) if i["user_id"] in ours]
    groups: dict[tuple[str, str], set[str]] = defaultdict(set)  # (user, dedupe key) -> states
    template_of: dict[tuple[str, str], str] = {}
    for item in log:
        key, _, device = item["sk"].rpartition("#")
        if not key or device == "=delivered" or item["sk"].endswith("#=delivered"):
            continue
        groups[(item["user_id"], key)].add(str(item.get("status")))
        if "body" in item:
            template_of[(item["user_id"], key)] = json.loads(item["body"])["template_id"]
    dead_jobs = _queue_bodies(sqs, queues["PushesDLQ"])
    dead_pushes = {(body.get("user_id"), body.get("dedupe_key")) for body in dead_jobs}
    sent = {g for g, states in groups.items() if "sent" in states}
    # `unknown`: push_sender found its own claim left `sending` (the outcome write never
    # landed) and gave up rather than risk a second send: FCM tells whether it got there
    for group in [g for g, states in groups.items() if g not in sent and "unknown" in states]:
        if (group[0], template_of.get(group, "")) in by_template:
            sent.add(group)
        else:
            out.push_problems.append(f"{group[0]}/{group[1]}: recorded unknown, never reached FCM")
    suppressed = {g for g, s in groups.items() if g not in sent and s & {"suppressed", "failed"}}
    stuck = {
        g: s
        for g, s in groups.items()
        if g not in sent and g not in suppressed and "unknown" not in s
    }
    out.delivered, out.suppressed = len(sent), len(suppressed)
    out.pushes_dead = len({g for g in dead_pushes if g not in sent and g not in suppressed})
    out.push_problems += [
        f"{u}/{k}: left {sorted(s)} with no outcome"
        for (u, k), s in sorted(stuck.items())
        if (u, k) not in dead_pushes
    ]
    for key, user in sorted(played.transactional.items()):
        if (user, key) not in groups and (user, key) not in dead_pushes:
            out.push_problems.append(f"{user}/{key}: queued (202) but never seen by push_sender")

    counters: Counter[str] = Counter()
    profiles: dict[str, Any] = {}
    for item in _items(ddb, tables["ProfilesTable"]):
        user = item["user_id"]
        if user in ours:
            profiles[user] = profile_view(item)
        elif user.startswith("#stats#"):
            name = counter_name(user)
            for key, value in item.items():
                if key not in ("user_id", "expires_at") and isinstance(value, Decimal):
                    counters[f"{name}.{key}"] += int(value)
    out.profiles = profiles
    broadcast = (
        _admin_get(LocalClient(state), f"/admin/v1/broadcasts/{played.broadcast_id}")
        if (played.broadcast_id)
        else None
    )
    campaign_sent = sum(v for k, v in counters.items() if k.startswith("campaign:onboarding.sent."))
    out.queued_by = {
        "transactional": len(played.transactional),
        "broadcast": int((broadcast or {}).get("enqueued", 0)),
        "campaign": campaign_sent,
    }
    out.queued = sum(out.queued_by.values())
    if played.broadcast_id and broadcast is None:
        out.push_problems.append(f"broadcast {played.broadcast_id}: progress unreadable")
    out.counters = dict(counters)

    out.deliveries = set(by_template)
    logged_sent = Counter(u for u, _ in sent)
    at_fcm = Counter(u for u, _ in by_template)
    for user in sorted(set(logged_sent) | set(at_fcm)):
        if logged_sent[user] != at_fcm[user]:
            out.push_problems.append(
                f"{user}: {logged_sent[user]} sent in the delivery log, {at_fcm[user]} at FCM"
            )
    out.details = {
        "faults": faults.read_counts(state_dir / "faults"),
        "fcm_injected": fcm.get("injected", {}),
        "requests": played.requests,
        "retries": played.retries,
        "gave_up": played.gave_up,
        "duplicates_sent": played.duplicates_sent,
        "survey_answers": played.survey_answers,
        "stuck": len(stuck),
        "pushes_dlq": len(dead_jobs),
        "queues": requests.get(f"{state['api_url']}/_local/queues", timeout=30).json(),
        "stats": requests.get(f"{state['api_url']}/_local/stats", timeout=30).json(),
    }
    return out


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two profile views differ, by path (agg.u.locale: ...), shortest values shown."""
    if isinstance(a, dict) and isinstance(b, dict):
        found = []
        for key in sorted(set(a) | set(b), key=str):
            here = f"{path}.{key}" if path else str(key)
            if key not in a or key not in b:
                which = "without" if key not in a else "with"
                found.append(f"{here}: only {which} faults ({(a if key in a else b)[key]!r:.80})")
            elif a[key] != b[key]:
                found += _diff(a[key], b[key], here)
        return found
    return [f"{path}: {a!r:.80} with faults, {b!r:.80} without"]


def compare(faulty: Outcome, clean: Outcome) -> list[str]:
    """What differs between the run with faults and the one without (empty: nothing)."""
    differences = []
    for user in sorted(set(faulty.profiles) | set(clean.profiles)):
        a, b = faulty.profiles.get(user), clean.profiles.get(user)
        if a is None or b is None:
            differences.append(f"profile {user}: only {'without' if a is None else 'with'} faults")
            continue
        differences += [f"profile {user} {d}" for d in _diff(a, b)]
    for key in sorted(set(faulty.counters) | set(clean.counters)):
        with_, without = faulty.counters.get(key, 0), clean.counters.get(key, 0)
        if with_ != without:
            differences.append(f"counter {key}: {with_} with faults, {without} without")
    for name in ("accepted", "applied", "queued", "delivered", "suppressed"):
        with_, without = getattr(faulty, name), getattr(clean, name)
        if with_ != without:
            differences.append(f"{name}: {with_} with faults, {without} without")
    for user, template in sorted(faulty.deliveries ^ clean.deliveries):
        which = "with" if (user, template) in faulty.deliveries else "without"
        differences.append(f"push {template} to {user}: only {which} faults")
    return differences


def report(outcome: Outcome, differences: list[str], compared: bool) -> None:
    details = outcome.details
    faults_ = details["faults"]
    print("\nFaults injected (calls failed / calls seen, per rule)")
    for rule in faults_["rules"]:
        share = rule["injected"] / rule["seen"] if rule["seen"] else 0
        counts = f"{rule['injected']:>6} / {rule['seen']:>6} ({share:.0%})"
        print(f"  {rule['service']:<9}{rule['error']:<58}{counts}")
    print(f"  by function: {faults_['functions']}")
    print(f"  FCM answered {details['fcm_injected']} (429/503 with Retry-After)")
    print("\nClients (every 5xx retried with the same ids)")
    gave_up = details["gave_up"]
    print(f"  requests {details['requests']}, retried {details['retries']}, gave up {len(gave_up)}")
    for what in gave_up[:10]:
        print(f"    gave up: {what}")
    print(
        f"  events sent twice {details['duplicates_sent']}, NPS answers {details['survey_answers']}"
    )
    print("\nEvents (by event id)")
    print(
        f"  accepted {outcome.accepted}, applied {outcome.applied}, "
        f"dead-lettered {outcome.events_dead}; applied although no 202 reached the client "
        f"{outcome.applied_unacknowledged}"
    )
    for lost in outcome.events_lost[:10]:
        print(f"    unaccounted: {lost}")
    print("\nPushes (one per user and dedupe key)")
    print(f"  queued {outcome.queued}: {outcome.queued_by}")
    print(
        f"  delivered {outcome.delivered} (FCM received {outcome.fcm_received}), suppressed or "
        f"failed {outcome.suppressed}, dead-lettered {outcome.pushes_dead} "
        f"(pushes DLQ: {details['pushes_dlq']} jobs)"
    )
    for problem in outcome.push_problems[:20]:
        print(f"    {problem}")
    for duplicate in outcome.duplicates[:20]:
        print(f"    duplicate: {duplicate}")
    busy = {q: d for q, d in details["queues"].items() if any(d.values())}
    errors = {k: v["errors"] for k, v in details["stats"]["functions"].items() if v["errors"]}
    print(f"  queues not empty at the end: {busy or 'none'}; function errors: {errors or 'none'}")
    if compared:
        print("\nThe same workload without faults")
        for difference in differences[:40]:
            print(f"  {difference}")
        if len(differences) > 40:
            print(f"  ... {len(differences) - 40} more")
        if not differences:
            print(
                f"  the same {len(outcome.profiles)} profiles (lifecycle, aggregates, campaign "
                f"state), {len(outcome.counters)} counters and pushes at FCM"
            )
