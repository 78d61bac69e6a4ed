"""Campaign benchmarks: decision throughput of the pure domain with 50 active campaigns, and
DynamoDB write units per event with campaigns active (moto, the workload of event_writes.py).

    python -m tests.bench.campaigns
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

EXAMPLES = Path(__file__).parents[2] / "events" / "campaigns"
NAMES = ["session_start", "screen_view", "search", "destination_viewed", "cart_updated",
         "purchase", "ticket_purchased", "share", "rating", "favourite_added"]  # fmt: skip


def fifty_campaigns() -> list[Any]:
    """A realistic mix: event triggers with filters and audiences, delays, lifecycle, schedules."""
    from nudge.models.campaign import Campaign

    rng = random.Random(3)
    campaigns = []
    for i in range(50):
        kind = i % 5
        trigger: dict[str, Any]
        if kind in (0, 1):
            trigger = {"event": {"name": rng.choice(NAMES)}}
            if kind == 1:
                trigger["event"]["where"] = {"screen": ["home", "search"]}
        elif kind == 2:
            trigger = {"event": {"name": "cart_updated", "delay": "30m", "unless": ["purchase"]}}
        elif kind == 3:
            trigger = {"lifecycle": {"to": rng.choice(["at_risk", "loyal", "dormant"])}}
        else:
            trigger = {"schedule": {"cron": f"0 {8 + i % 10} * * *"}}
        audience = rng.choice(
            [
                {"lifecycle": ["new", "active", "loyal"]},
                {"behavior": {"event": "screen_view", "count_gte": 3, "within_days": 7}},
                {"any": [{"purchases": {"total_gte": 10}}, {"lifecycle": ["loyal"]}]},
                {"not": {"recency": {"event": "purchase", "within_days": 2}}},
            ]
        )
        campaigns.append(
            Campaign.model_validate(
                {
                    "id": f"c{i:02d}",
                    "name": f"Campaign {i}",
                    "status": "active",
                    "priority": rng.randint(0, 10),
                    "trigger": trigger,
                    "audience": audience,
                    "variants": [
                        {"id": "a", "weight": 1, "title": "Hi", "body": "B"},
                        {"id": "b", "weight": 1, "title": "Hey", "body": "B"},
                    ],
                    "holdout_pct": 10,
                    "delivery": {"cooldown": "6h"},
                    "goal": {"event": "purchase", "within": "2d"},
                }
            )
        )
    return campaigns


class _StoredPreferences:
    """Preferences as the DynamoDB adapter hands them over: the pure domain is measured."""

    def __init__(self) -> None:
        self.stored: dict[str, Any] = {}

    def preferences(self, user_id: str) -> Any:
        return self.stored.get(user_id)


def decision_throughput(events_count: int = 20_000) -> str:
    from nudge.domain.config import EngagementConfig
    from nudge.domain.profiles.aggregates import apply_events
    from nudge.domain.profiles.lifecycle import evaluate
    from nudge.models.campaign import CampaignSet
    from nudge.models.device import Preferences
    from nudge.models.events import IncomingEvent
    from nudge.models.profile import Profile
    from nudge.services.campaigns.runner import CampaignRunner
    from tests.fakes.memory import InMemoryCampaignCatalog, InMemoryQueue

    campaigns = fifty_campaigns()
    config = EngagementConfig()
    devices = _StoredPreferences()
    runner = CampaignRunner(
        InMemoryCampaignCatalog(CampaignSet(campaigns={c.id: c for c in campaigns})),
        devices,
        InMemoryQueue(),
        config,
    )
    rng = random.Random(5)
    start = datetime(2026, 3, 2, 7, tzinfo=UTC)
    users = [f"user-{i}" for i in range(200)]
    for user in users:
        # a zone set in the app, as most users have: local-time schedules decide as in production
        devices.stored[user] = Preferences(
            user_id=user, categories={"marketing": True}, timezone="Europe/Amsterdam"
        )
    profiles = {user: Profile(user_id=user) for user in users}
    events = [
        (
            rng.choice(users),
            IncomingEvent(
                event_id=f"e{i}",
                name=rng.choice(NAMES),
                timestamp=start + timedelta(seconds=40 * i),
                properties={"screen": rng.choice(["home", "search", "cart"]), "amount": 12.5},
            ),
        )
        for i in range(events_count)
    ]
    decisions = sends = recorded = 0
    folding = deciding = 0.0
    for user, event in events:
        now = int(event.timestamp.timestamp()) + 5
        started = time.perf_counter()
        profile = apply_events(profiles[user], [event], config, now)
        profile, move = evaluate(profile, now, config.lifecycle, cause="event")
        middle = time.perf_counter()
        result = runner.decide(profile, now, [event], [move] if move else [])
        deciding += time.perf_counter() - middle
        folding += middle - started
        decisions += len(result.decisions)
        sends += sum(1 for d in result.decisions if d.action == "send")
        recorded += len(result.decision_log)
        profiles[user] = profile
    return (
        f"campaign decisions: {events_count / deciding:,.0f} events/s on one core with 50 active "
        f"campaigns (triggers, segments, the decision sequence, caps, the decision record on; "
        f"{decisions:,} decisions, {sends:,} sends, {recorded:,} records; "
        f"{decisions / deciding:,.0f} decisions/s; target >= 5,000 events/s); with the profile "
        f"fold and lifecycle "
        f"per single-event message: {events_count / (deciding + folding):,.0f} events/s"
    )


def write_units_with_campaigns() -> list[str]:
    """Write units per event with campaigns active, and the decision record's share of them."""
    from moto import mock_aws

    from nudge.adapters.dynamo_codec import write_units
    from nudge.adapters.dynamodb import DynamoProfileStore
    from nudge.adapters.history import DynamoHistoryStore
    from nudge.adapters.metering import WriteMeter
    from nudge.clock import ManualClock
    from nudge.configfiles import load_config
    from nudge.domain.config import EngagementConfig
    from nudge.models.campaign import Campaign, CampaignSet
    from nudge.models.device import Preferences
    from nudge.models.segment import NamedSegments
    from nudge.services.campaigns.runner import CampaignRunner
    from nudge.services.pipeline.processing import EventProcessingService
    from nudge.services.pipeline.scheduler import SchedulerService
    from tests.bench.event_writes import events_batch_size, one_request_per_user, workload
    from tests.bench.run import moto_tables
    from tests.fakes.devices import InMemoryDeviceStore
    from tests.fakes.memory import InMemoryCampaignCatalog, InMemoryQueue

    segments = load_config((EXAMPLES / "segments.yml").read_text(), NamedSegments, "segments")
    examples = [
        load_config(p.read_text(), Campaign, p.name) for p in sorted(EXAMPLES.glob("*.yaml"))
    ]
    # the workload's own event names trigger these two
    extra = [
        c.model_copy(update={"id": f"{c.id}-{n}"})
        for n, c in enumerate(fifty_campaigns()[:10])
        if c.trigger.event is not None
    ]
    published = CampaignSet(
        campaigns={c.id: c for c in [*examples, *extra]}, segments=segments.segments
    )
    users, days = 30, 30
    messages = workload(users, days)
    unique = {e["event_id"] for _, b in messages for e in json.loads(b)["events"]}
    with mock_aws(), _counting_cell_writes() as cell_writes:
        ddb = moto_tables()
        meter = WriteMeter()
        profiles = DynamoProfileStore("ProfilesTable", meter, ddb)
        profiles.cells_table = "HistoryTable"  # the response cells, as runtime wires them
        history = DynamoHistoryStore("HistoryTable", meter, ddb)
        clock = ManualClock(datetime(2026, 3, 2, tzinfo=UTC))
        config = EngagementConfig()
        devices, queue = InMemoryDeviceStore(), InMemoryQueue()
        for u in range(users):
            # a zone set in the app, as most users have (without one, marketing is withheld)
            prefs = Preferences(
                user_id=f"user-{u:05d}",
                categories={"marketing": u % 3 > 0},
                timezone="Europe/Amsterdam",
            )
            devices.save_preferences(prefs, None)
        runner = CampaignRunner(InMemoryCampaignCatalog(published), devices, queue, config)
        decided = _count_decisions(runner)
        service = EventProcessingService(profiles, history, config, clock, campaigns=runner)
        scheduler = SchedulerService(profiles, history, config, clock, campaigns=runner)
        for batch in one_request_per_user(messages, events_batch_size()):
            arrived = datetime.fromisoformat(max(json.loads(b)["received_at"] for _, b in batch))
            while clock.now() + timedelta(hours=1) < arrived:
                clock.advance(timedelta(hours=1))
                scheduler.run()
            clock.set(max(arrived, clock.now()))
            assert not service.process(batch).failures
        record_units, record_items, records = _decision_record_units(ddb, write_units)
        memory = _memory_bytes(profiles, [f"user-{u:05d}" for u in range(users)])
    per_event = meter.total / len(unique)
    cells = 2 * cell_writes[0] / len(unique)  # each a small ADD in the transaction: 2 WCU
    return [
        f"campaign write units: {per_event:.2f} WCU per unique event with "
        f"{len(published.campaigns)} campaigns active ({len(queue.bodies):,} sends queued, "
        f"scheduler hourly; campaign state and counters ride in the profile's write)",
        f"response cells (country, stage, platform, segments; breakdown.py): "
        f"{cells:.3f} WCU per unique event of the above, {per_event - cells:.2f} without "
        f"({cell_writes[0]:,} cell ADDs, each in the transaction that counts the send, open, "
        f"conversion or opt-out anyway: 2 WCU, items < 1 KB)",
        f"decision record: {record_units / len(unique):.3f} WCU per unique event, "
        f"{record_units / max(1, decided[0]):.3f} WCU per decision ({records:,} records for "
        f"{decided[0]:,} decisions, in {record_items:,} items: a record when an outcome changes "
        f"or a day on, one item per decision pass, in the history's batch write, no extra "
        f"request; the memory in the profile: "
        f"{memory:.0f} bytes a user on average; included in the line above)",
    ]


@contextmanager
def _counting_cell_writes() -> Iterator[list[int]]:
    """Counts the response cell updates the profile store puts in its transactions."""
    from nudge.adapters import dynamodb

    counted = [0]
    updates = dynamodb.cell_updates

    def counting(*args: Any, **kwargs: Any) -> Any:
        result = updates(*args, **kwargs)
        counted[0] += len(result)
        return result

    dynamodb.cell_updates = counting
    try:
        yield counted
    finally:
        dynamodb.cell_updates = updates


def _count_decisions(runner: Any) -> list[int]:
    """Counts the decisions the runner makes (not duplicates: those are no decision)."""
    counted = [0]
    decide = runner.decide

    def counting(*args: Any, **kwargs: Any) -> Any:
        result = decide(*args, **kwargs)
        counted[0] += sum(1 for d in result.decisions if d.reason != "duplicate")
        return result

    runner.decide = counting
    return counted


def _decision_record_units(ddb: Any, write_units: Any) -> tuple[int, int, int]:
    """The write units of the decision record items (`d#...`, one per decision pass) in the
    history table, the items and the records they hold."""
    units = items = records = 0
    for page in ddb.get_paginator("scan").paginate(TableName="HistoryTable"):
        for item in page["Items"]:
            if item["sk"]["S"].startswith("d#"):
                units += write_units(item)
                items += 1
                records += len(json.loads(item["body"]["S"]))
    return units, items, records


def _memory_bytes(profiles: Any, users: list[str]) -> float:
    """The decision record's memory in the profile (`messaging.decided`), as stored (JSON)."""
    sizes = []
    for user in users:
        profile = profiles.get(user)
        if profile is not None and profile.messaging.decided:
            sizes.append(len(json.dumps(profile.messaging.model_dump(include={"decided"}))))
    return sum(sizes) / len(users)


def run_campaign_bench() -> list[str]:
    return [decision_throughput(), *write_units_with_campaigns()]


if __name__ == "__main__":
    for line in run_campaign_bench():
        print(line)
