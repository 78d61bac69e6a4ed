"""Scheduler benchmark: due users per second for one consumer (scheduler_worker), and how many
consumers clear 1,000,000 due users in 15 minutes.

One consumer works through due buckets over the in-memory fakes (50 active campaigns, the
users consented, every one of them due: new -> at_risk). The fakes cost no network time, so
the figure is modelled: the CPU measured per user, scaled to the worker's share of a vCPU
(Lambda gives 1,769 MB one vCPU), plus the DynamoDB and SQS calls counted per user times an
assumed in-region latency per call. The assumption is printed with the figure.

    python -m tests.bench.scheduler
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

DUE_USERS = 1_000_000
WINDOW_S = 15 * 60
CALL_LATENCY_MS = 8.0  # assumed: one in-region DynamoDB/SQS call, botocore's own CPU included
FULL_VCPU_MB = 1_769  # Lambda's memory at which a function gets one whole vCPU


class Counted:
    """A port whose calls are counted (each is one DynamoDB or SQS call in the adapters)."""

    def __init__(self, inner: Any, calls: Counter[str], name: str) -> None:
        self._inner, self._calls, self._name = inner, calls, name

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(self._inner, attribute)
        if not callable(value) or attribute.startswith("_"):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            self._calls[f"{self._name}.{attribute}"] += 1
            return value(*args, **kwargs)

        return call


@dataclass
class SchedulerFigures:
    users: int
    cpu_ms_per_user: float
    calls_per_user: float
    memory_mb: int
    max_concurrency: int
    messages_per_hour: int  # at most: due_shards x parts per bucket

    @property
    def modelled_ms_per_user(self) -> float:
        cpu = self.cpu_ms_per_user * max(1.0, FULL_VCPU_MB / self.memory_mb)
        return cpu + self.calls_per_user * CALL_LATENCY_MS

    @property
    def users_per_second(self) -> float:
        return 1000.0 / self.modelled_ms_per_user

    @property
    def consumers_needed(self) -> int:
        return math.ceil(DUE_USERS / (self.users_per_second * WINDOW_S))


def _worker_spec() -> tuple[int, int, int]:
    """The template's scheduler_worker: memory, maximum concurrency; and how many messages
    one hour's users can go out as (due_shards x the parts a bucket is cut into)."""
    from nudge.domain.config import EngagementConfig
    from nudge.models.scheduler import MAX_PARTS
    from nudge_local.template import read_stack

    spec = read_stack()
    resource = spec.template["Resources"]["SchedulerWorkerFunction"]["Properties"]
    memory = resource.get("MemorySize") or spec.template["Globals"]["Function"]["MemorySize"]
    (source,) = resource["Events"].values()
    concurrency = source["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    return int(memory), int(concurrency), EngagementConfig().due_shards * MAX_PARTS


def measure(users: int = 3_000) -> SchedulerFigures:
    from nudge.clock import ManualClock
    from nudge.domain.config import EngagementConfig
    from nudge.models.campaign import CampaignSet
    from nudge.models.device import Preferences
    from nudge.models.events import IncomingEvent, QueuedBatch
    from nudge.services.campaigns.runner import CampaignRunner
    from nudge.services.pipeline.processing import EventProcessingService
    from nudge.services.pipeline.scheduler import SchedulerService
    from tests.bench.campaigns import fifty_campaigns
    from tests.fakes.devices import InMemoryDeviceStore
    from tests.fakes.memory import (
        InMemoryCampaignCatalog,
        InMemoryHistoryStore,
        InMemoryProfileStore,
        InMemoryQueue,
    )
    from tests.fakes.scheduler import InMemoryDueBuckets, InMemoryShardQueue

    clock = ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    config = EngagementConfig()
    profiles, history = InMemoryProfileStore(), InMemoryHistoryStore()
    devices, pushes = InMemoryDeviceStore(), InMemoryQueue()
    campaigns = CampaignSet(campaigns={c.id: c for c in fifty_campaigns()})
    catalog = InMemoryCampaignCatalog(campaigns)
    processor = EventProcessingService(
        profiles, history, config, clock, CampaignRunner(catalog, devices, pushes, config)
    )
    for n in range(users):
        user = f"user-{n:06d}"
        devices.save_preferences(Preferences(user_id=user, categories={"marketing": True}), None)
        event = IncomingEvent(event_id=f"e{n}", name="session_start", timestamp=clock.now())
        body = QueuedBatch(user_id=user, received_at=clock.now(), events=[event])
        processor.process([(f"m{n}", body.model_dump_json())])
    clock.advance(timedelta(days=7))  # everyone due once, on time: new -> at_risk

    calls: Counter[str] = Counter()
    counted_profiles = Counted(profiles, calls, "profiles")
    runner = CampaignRunner(
        catalog, Counted(devices, calls, "devices"), Counted(pushes, calls, "pushes"), config
    )
    consumer = SchedulerService(
        counted_profiles,  # type: ignore[arg-type]
        Counted(history, calls, "history"),  # type: ignore[arg-type]
        config,
        clock,
        campaigns=runner,
        buckets=Counted(InMemoryDueBuckets(profiles), calls, "buckets"),  # type: ignore[arg-type]
        shards=InMemoryShardQueue(),
    )
    queue = InMemoryShardQueue()
    consumer.shards = queue
    consumer.tick()  # what the consumers are handed: due buckets, big ones cut into parts
    messages = queue.take_all()
    runner.published()  # the catalog read once per warm consumer, not per user
    started = time.process_time()
    checked = sum(consumer.process_shard(message).checked for message in messages)
    cpu_s = time.process_time() - started
    assert checked == users, (checked, users)
    # per-user calls only: a bucket's own reads and mark (a handful per thousands of users)
    per_user = sum(n for name, n in calls.items() if not name.startswith("buckets."))
    per_user -= calls["profiles.due_users"]
    memory, concurrency, per_hour = _worker_spec()
    return SchedulerFigures(
        users=users,
        cpu_ms_per_user=cpu_s * 1000 / users,
        calls_per_user=per_user / users,
        memory_mb=memory,
        max_concurrency=concurrency,
        messages_per_hour=per_hour,
    )


def run_scheduler_bench() -> list[str]:
    figures = measure()
    n = figures.users_per_second
    c = figures.consumers_needed
    return [
        f"scheduler: {n:.0f} users/s per consumer; {c} consumers clear "
        f"{DUE_USERS:,} due users in 15 min",
        f"  (in-memory fakes, 50 campaigns, {figures.users:,} due users: "
        f"{figures.cpu_ms_per_user:.2f} ms CPU/user here, x{FULL_VCPU_MB / figures.memory_mb:.2f}"
        f" for {figures.memory_mb} MB, + {figures.calls_per_user:.1f} DynamoDB/SQS calls/user"
        f" x {CALL_LATENCY_MS:.0f} ms assumed in-region latency = "
        f"{figures.modelled_ms_per_user:.1f} ms/user)",
        f"  template: MaximumConcurrency {figures.max_concurrency}; one hour's users go out "
        f"as up to {figures.messages_per_hour} messages (due_shards x parts): up to "
        f"{min(figures.max_concurrency, figures.messages_per_hour)} consumers at once",
    ]


if __name__ == "__main__":
    for line in run_scheduler_bench():
        print(line)
