"""DynamoDB write units per ingested event (moto), on how apps really send events, and on
the worst case of one event per request.

How events arrive (the realistic mix): mobile SDKs buffer events and flush them together
(Amplify: up to 100 events every 5 s; most apps send 5-20 per request). Each simulated user
is active on 20%, 50% or 90% of days (a third each; a third lapse after 10 days); an active
day has 1-2 sessions of a session_start, 4-40 screen views 2 s apart and a purchase a
quarter of the time; a session's events go out in requests of 5-20 events (uniform), the
last one holding the rest. 10% of the requests are redelivered by SQS and 5% re-sent by an
app that lost the answer. The event source's batch size is the template's, and a batch never
holds two requests of one user (`one_request_per_user`). Every request is counted by
events_api's per-user rate limit (a counter item in ProfilesTable): those writes are part of
an event's cost too.

    python -m tests.bench.event_writes
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

REALISTIC = (5, 20)  # events per request, uniform
WORST = (1, 1)


def events_batch_size() -> int:
    """The event processor's SQS batch size, as template.yaml sets it."""
    from nudge_local.template import read_stack

    (source,) = [s for s in read_stack().sqs_sources if s.queue == "EventsQueue"]
    return source.batch_size


def workload(
    users: int, days: int, per_request: tuple[int, int] = REALISTIC, seed: int = 7
) -> list[tuple[str, str]]:
    """SQS messages as events_api packs them: one per app request, in arrival order (time,
    shuffled within each hour: queues do not keep order), duplicates included."""
    from nudge.models.events import IncomingEvent, QueuedBatch

    rng = random.Random(seed)
    start = datetime(2026, 3, 2, 7, tzinfo=UTC)
    messages: list[tuple[str, str]] = []
    for u in range(users):
        activity = rng.choice([0.9, 0.5, 0.2])
        lapses_after = rng.choice([days, days, 10])
        for day in range(min(days, lapses_after)):
            if rng.random() > activity:
                continue
            for session in range(rng.randint(1, 2)):
                began = start + timedelta(
                    days=day, hours=5 * session + rng.choice([0, 1, 2]), minutes=rng.randint(0, 50)
                )
                names = ["session_start"] + ["screen_view"] * rng.randint(4, 40)
                if rng.random() < 0.25:
                    names.append("purchase")
                events = [
                    IncomingEvent(
                        event_id=f"u{u}-d{day}-s{session}-{i}",
                        name=name,
                        timestamp=began + timedelta(seconds=2 * i),
                        properties={"amount": 19.9} if name == "purchase" else {"screen": "home"},
                    )
                    for i, name in enumerate(names)
                ]
                while events:
                    size = rng.randint(*per_request)
                    sent, events = events[:size], events[size:]
                    body = QueuedBatch(
                        user_id=f"user-{u:05d}",
                        received_at=sent[-1].timestamp + timedelta(seconds=5),
                        events=sent,
                    ).model_dump_json()
                    messages.append((f"m-{len(messages)}", body))
    redelivered = rng.sample(messages, k=len(messages) // 10)
    retried = [
        (f"r-{i}", b) for i, (_, b) in enumerate(rng.sample(messages, k=len(messages) // 20))
    ]
    everything = messages + redelivered + retried
    everything.sort(key=lambda m: (json.loads(m[1])["received_at"][:13], rng.random()))
    return everything


def one_request_per_user(messages: list[tuple[str, str]], size: int) -> list[list[tuple[str, str]]]:
    """The event source's batches, in arrival order, as at scale: with thousands of users
    sending at once, a batch rarely holds two requests of one user, so here it never does
    (each would make one profile and one history write: the conservative case)."""
    batches: list[tuple[set[str], list[tuple[str, str]]]] = []
    first_open = 0
    for message in messages:
        user = json.loads(message[1])["user_id"]
        index = first_open
        while index < len(batches) and (
            user in batches[index][0] or len(batches[index][1]) >= size
        ):
            index += 1
        if index == len(batches):
            batches.append((set(), []))
        batches[index][0].add(user)
        batches[index][1].append(message)
        while first_open < len(batches) and len(batches[first_open][1]) >= size:
            first_open += 1
    return [batch for _, batch in batches]


@dataclass
class EventWrites:
    """What ingesting a workload wrote, per unique event (the figures the cost model uses)."""

    label: str
    unique: int
    delivered: int
    messages: int
    users: int
    table_units: int
    index_units: int
    writes: int
    limiter_units: int  # events_api's rate-limit counters, one count per request
    requests: Counter[str]
    batches: int
    seconds: float
    profile_sizes: list[int]

    @property
    def per_event(self) -> float:
        """All of it: the processor's writes and the rate limit's, per unique event."""
        return (self.table_units + self.index_units + self.limiter_units) / self.unique

    @property
    def events_per_request(self) -> float:
        return self.delivered / self.messages


def measure(label: str, users: int, days: int, per_request: tuple[int, int]) -> EventWrites:
    from moto import mock_aws

    from nudge.adapters.dynamo_codec import item_size
    from nudge.adapters.dynamodb import DynamoProfileStore
    from nudge.adapters.history import DynamoHistoryStore
    from nudge.adapters.metering import WriteMeter
    from nudge.adapters.ratelimit import DynamoRequestCounter
    from nudge.clock import ManualClock
    from nudge.domain.config import EngagementConfig
    from nudge.models.keys import SYSTEM_PREFIX
    from nudge.services.pipeline.processing import EventProcessingService
    from nudge.services.pipeline.scheduler import SchedulerService
    from nudge.services.ratelimit import RateLimiter
    from nudge.settings import Settings
    from tests.bench.run import moto_tables

    messages = workload(users, days, per_request)
    bodies = [json.loads(body) for _, body in messages]
    unique = {e["event_id"] for b in bodies for e in b["events"]}
    delivered = sum(len(b["events"]) for b in bodies)
    batch_size = events_batch_size()
    with mock_aws():
        ddb = moto_tables()
        requests: Counter[str] = Counter()  # round trips: Lambda time waits on each
        ddb.meta.events.register(
            "before-call.dynamodb", lambda model, **_: requests.update([model.name])
        )
        meter = WriteMeter()
        profiles = DynamoProfileStore("ProfilesTable", meter, ddb)
        history = DynamoHistoryStore("HistoryTable", meter, ddb)
        clock = ManualClock(datetime(2026, 3, 2, tzinfo=UTC))
        config = EngagementConfig()
        service = EventProcessingService(profiles, history, config, clock)
        # events_api counts each request it accepts (app retries too; SQS redeliveries not)
        limiter_meter, request_clock = WriteMeter(), ManualClock(clock.now())
        limit = Settings.model_fields["rate_limit_events_per_minute"].default
        limiter = RateLimiter(
            DynamoRequestCounter("ProfilesTable", limiter_meter, ddb),
            {"events": limit},
            request_clock,
        )
        accepted = dict(messages)  # a redelivery has its message's id: counted once
        for body in sorted(accepted.values(), key=lambda b: json.loads(b)["received_at"]):
            request = json.loads(body)
            request_clock.set(datetime.fromisoformat(request["received_at"]))
            limiter.check(request["user_id"], "events")
        scheduler = SchedulerService(profiles, history, config, clock)
        started = time.perf_counter()
        batches = 0
        processed: Counter[str] = Counter()
        for batch in one_request_per_user(messages, batch_size):
            arrived = datetime.fromisoformat(
                max(json.loads(body)["received_at"] for _, body in batch)
            )
            if arrived > clock.now():
                if arrived.date() != clock.now().date():
                    scheduler.run()  # the nightly decay, as the schedule would run it
                clock.set(arrived)
            before = requests.copy()
            outcome = service.process(batch)
            processed.update(requests - before)
            batches += 1
            assert not outcome.failures, outcome.failures
        elapsed = time.perf_counter() - started
        sizes = [  # the users' profiles, not the counters beside them
            item_size(item)
            for page in ddb.get_paginator("scan").paginate(TableName="ProfilesTable")
            for item in page["Items"]
            if not item["user_id"]["S"].startswith(SYSTEM_PREFIX)
        ]
    return EventWrites(
        label, len(unique), delivered, len(messages), users, meter.table_units,
        meter.index_units, meter.writes, limiter_meter.total, processed, batches, elapsed,
        sizes,
    )  # fmt: skip


def report() -> list[EventWrites]:
    """Section 2 of `make bench`: the realistic mix and the worst case, side by side."""
    runs = [
        measure("realistic: 5-20 events per request", 40, 30, REALISTIC),
        measure("worst case: 1 event per request", 6, 30, WORST),
    ]
    print(f"2. DynamoDB write units per ingested event (moto; batch size {events_batch_size()})")
    for run in runs:
        calls = ", ".join(f"{name} {n / run.batches:.1f}" for name, n in run.requests.most_common())
        print(
            f"   {run.label}: {run.unique:,} unique events from {run.users} users over 30 "
            f"days in {run.messages:,} requests ({run.events_per_request:.1f} events each, "
            f"duplicates included)\n"
            f"      write units per event: {run.per_event:.2f} (profiles and history "
            f"{run.table_units:,} WCU, due index {run.index_units:,} WCU, events_api's rate "
            f"limit {run.limiter_units:,} WCU; lifecycle transitions and the nightly scheduler "
            f"included)\n"
            f"      profile item median {statistics.median(run.profile_sizes):.0f} B, max "
            f"{max(run.profile_sizes)} B; DynamoDB requests per SQS batch: "
            f"{run.requests.total() / run.batches:.1f} ({calls}); processor over moto "
            f"{run.delivered / run.seconds:,.0f} events/s (a floor, not a forecast)"
        )
    print()
    return runs


if __name__ == "__main__":
    report()
