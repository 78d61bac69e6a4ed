"""Write units per push and device on a realistic mix (`make bench` section 4), over moto.

The mix: 60% transactional pushes, 25% campaign and 15% broadcast pushes (both counted in
the profiles table's counters); 65% of users with one device and 35% with two; FCM answers
2% UNREGISTERED and 1% UNAVAILABLE (retried: it is sent on the job's redelivery); SQS
batches of 50 jobs, as push_sender's event source delivers them. Write units are counted
from the items actually written (WriteMeter: item size per KB, two per transaction item),
in the delivery log and the counters, with the index entries they write (an on-demand GSI
bills each): the figure is all in. The delivery log has no index since issue 23 (the line
names the indexes the table deployed from template.yaml has). An open's read, a Query of
the user's partition (`mark`), is measured beside: read units are a fifth of the price.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

BATCH = 50
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)
KINDS = (("transactional", 0.60), ("campaign", 0.25), ("broadcast", 0.15))


def _job(n: int, kind: str, user: str) -> str:
    from nudge.domain.campaigns.rules import campaign_job_id
    from nudge.domain.messaging.job_ids import user_job_id
    from nudge.models.push import PushJob

    source, template_id, category = {
        "transactional": ("api", "order_shipped", "transactional"),
        "campaign": ("campaign:welcome", "welcome.a", "transactional"),
        "broadcast": ("broadcast:b1", "works-notice", "transactional"),
    }[kind]
    template: Any = {
        "id": template_id,
        "category": category,
        "text": {"en": {"title": "Order {{ n }} shipped", "body": "On its way"}},
    }
    job_id = {  # as each source names its jobs (their size is in the item's write units)
        "transactional": user_job_id(f"{n:032x}", user),
        "campaign": campaign_job_id(user, "welcome", str(n))[0],
        "broadcast": f"{'b1':0>32}-{user}",
    }[kind]
    return PushJob(
        job_id=job_id,
        user_id=user,
        dedupe_key=f"{kind}-{n:06d}",
        created_at=NOW,
        template=template,
        data={"n": n},
        source=source,
    ).model_dump_json()


@contextmanager
def _service(devices_of: dict[str, int]) -> Iterator[tuple[Any, Any, Any]]:
    """PushService over moto's tables with these users' devices; (service, meter, fcm)."""
    from moto import mock_aws

    from nudge.adapters.delivery_log import DynamoDeliveryLog
    from nudge.adapters.devices import DynamoDeviceStore
    from nudge.adapters.metering import WriteMeter
    from nudge.clock import ManualClock
    from nudge.domain.config import EngagementConfig
    from nudge.models.device import Device
    from nudge.services.messaging.push import PushService
    from tests.bench.run import moto_tables
    from tests.fakes.delivery_log import FakeFcm

    with mock_aws():
        ddb = moto_tables()
        devices = DynamoDeviceStore("DevicesTable", WriteMeter(), ddb)
        for user, count in devices_of.items():
            for d in range(count):
                devices.put_device(
                    Device(
                        user_id=user,
                        device_id=f"d{d}",
                        token=f"tok-{user}-d{d}",
                        platform="android",
                        locale="en-US",
                        timezone="Europe/Amsterdam",
                        created_at=0,
                        updated_at=int(NOW.timestamp()),
                    )
                )
        meter, fcm = WriteMeter(), FakeFcm()
        log = DynamoDeliveryLog("DeliveryLogTable", meter, ddb, counters_table="ProfilesTable")
        yield PushService(devices, log, fcm, EngagementConfig(), ManualClock(NOW)), meter, fcm


def _run_batches(service: Any, batches: list[list[tuple[str, int]]]) -> list[tuple[str, int]]:
    """Each batch as push_sender's handler runs it; the jobs to deliver again (not done)."""
    again = []
    begin: Callable[[], None] = service.new_batch
    end: Callable[[], None] | None = getattr(service, "end_batch", None)
    for batch in batches:
        begin()
        for body, receives in batch:
            if not service.process(body, receives).done:
                again.append((body, receives + 1))
        if end is not None:
            end()
    return again


def measure(
    jobs: int,
    kinds: tuple[tuple[str, float], ...],
    two_devices: float,
    failing: float,
    seed: int,
    batch: int = BATCH,
) -> tuple[float, float, int]:
    """(table write units per push and device, index write units per push and device,
    pushes) for `jobs` jobs of these kinds, `failing` of devices answered with an error."""
    rng = random.Random(seed)
    users = {f"u{u:04d}": 2 if rng.random() < two_devices else 1 for u in range(jobs)}
    bodies = []
    for n, user in enumerate(users):
        kind = rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        bodies.append(_job(n, kind, user))
    with _service(users) as (service, meter, fcm):
        for user, count in users.items():
            for d in range(count):
                roll = rng.random()
                if roll < failing * 2 / 3:
                    fcm.script[f"tok-{user}-d{d}"] = [("UNREGISTERED", None)]
                elif roll < failing:
                    fcm.script[f"tok-{user}-d{d}"] = [("UNAVAILABLE", None)]
        pending = [(body, 1) for body in bodies]
        while pending:
            batches = [pending[i : i + batch] for i in range(0, len(pending), batch)]
            pending = _run_batches(service, batches)
            service.clock.advance(timedelta(seconds=901))
        pushes = sum(users.values())
        return meter.table_units / pushes, meter.index_units / pushes, pushes


def delivery_log_indexes() -> list[str]:
    """The secondary indexes of the delivery log as deployed from template.yaml."""
    from moto import mock_aws

    from tests.bench.run import moto_tables

    with mock_aws():
        table = moto_tables().describe_table(TableName="DeliveryLogTable")["Table"]
    return [
        index["IndexName"]
        for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
        for index in table.get(kind, [])
    ]


def open_read_units(pushes_in_window: int) -> tuple[float, int]:
    """(read units, bytes read) of `mark` for a user with this many pushes to one device in
    the delivery log's 30 days: the Query reads (and bills) the whole partition, eventually
    consistent, half a read unit per 4 KB."""
    from nudge.adapters.dynamo_codec import item_size

    body = [_job(n, "campaign", "u0000") for n in range(pushes_in_window)]
    with _service({"u0000": 1}) as (service, _, _):
        _run_batches(service, [[(b, 1) for b in body]])
        items = service.log.ddb.query(
            TableName="DeliveryLogTable",
            KeyConditionExpression="user_id = :u",
            ExpressionAttributeValues={":u": {"S": "u0000"}},
        )["Items"]
        assert len(items) == pushes_in_window and not service.log.mark(
            "u0000", "job-none", "opened_at", int(NOW.timestamp())
        )
    size = sum(item_size(item) for item in items)
    return math.ceil(size / 4096) / 2, size


def push_mix_lines() -> tuple[list[str], float]:
    """The section's lines, and the mix's write units per push and device, all in."""
    mix, mix_index, pushes = measure(600, KINDS, 0.35, 0.03, seed=11)
    indexes = ", ".join(delivery_log_indexes()) or "none"
    lines = [
        f"write units per push: {mix + mix_index:.2f} all in (per push and device; {pushes} "
        "pushes: 60% transactional, 25% campaign, 15% broadcast; 35% of users with two "
        f"devices; 3% failing at FCM; SQS batches of {BATCH}); of which index entries "
        f"{mix_index:.2f} (delivery log indexes: {indexes})"
    ]
    for kind in ("transactional", "campaign", "broadcast"):
        alone, index, _ = measure(150, ((kind, 1.0),), 0.35, 0.0, seed=3)
        lines.append(f"  {kind:<13} {alone + index:.2f} per push and device all in")
    worst, worst_index, _ = measure(60, (("campaign", 1.0),), 0.0, 1.0, seed=5)
    lonely, lonely_index, _ = measure(40, (("campaign", 1.0),), 0.0, 0.0, seed=5, batch=1)
    lines.append(
        f"  worst case: {worst + worst_index:.2f} (every push a counted one to a single device "
        f"that FCM refuses); {lonely + lonely_index:.2f} (a counted push alone in its SQS "
        "batch, one device)"
    )
    reads, size = open_read_units(30)
    lines.append(
        f"  an open (push_opened) reads {reads:.1f} read units: the user's partition, here "
        f"30 pushes in the log's 30 days ({size / 1024:.1f} KB), eventually consistent"
    )
    return lines, mix + mix_index


if __name__ == "__main__":
    for line in push_mix_lines()[0]:
        print(line)
