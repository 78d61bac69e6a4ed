"""`make bench`: figures, not pass/fail tests.

1. cold import per handler, each in a fresh interpreter (median of several runs), and which
   heavy modules the import pulled in;
2. DynamoDB write units per ingested event for a mixed workload with duplicates, counted
   from the items actually written (item size rounded up per KB, plus index writes);
3. throughput of the pure domain fold, and of the processor over moto (moto is far slower
   than DynamoDB: read it as a ratio, not as production latency);
4. write units per push, and push_sender's FirebaseSender.send (send_each_async, HTTP/2)
   against the FCM emulator at 50 ms latency, each in its own process: throughput, the
   connections used and the CPU per message on each side.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted(p.parent.name for p in (ROOT / "functions").glob("*/app.py"))
HEAVY = ("firebase_admin", "grpc", "httpx", "boto3", "botocore", "matplotlib", "moto")
RUNS = 11  # interleaved rounds: a noisy moment moves the median of 11 less than of 7

IMPORT_PROBE = """
import importlib.util, json, sys, time
start = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
elapsed = time.perf_counter() - start
print(json.dumps({"ms": elapsed * 1000, "loaded": [m for m in sys.argv[2:] if m in sys.modules]}))
"""


FLOOR = "floor"  # what any Powertools HTTP handler over DynamoDB pays at cold start
CEILING = 1.15  # every non-push handler within this many times the floor
BASELINES = {
    FLOOR: (
        "import boto3, pydantic\n"
        "from aws_lambda_powertools import Logger, Metrics, Tracer\n"
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n"
        "logger, tracer, metrics = Logger(), Tracer(), Metrics()\n"
        "app = APIGatewayHttpResolver(enable_validation=True)\n"
    ),
    "typical boto3 fn": (
        "import boto3\n"
        "from aws_lambda_powertools import Logger, Metrics, Tracer\n"
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver\n"
        "logger, tracer, metrics = Logger(), Tracer(), Metrics()\n"
        "app = APIGatewayHttpResolver(enable_validation=True)\n"
        "table = boto3.resource('dynamodb').Table('t')\n"
    ),
}


def _probe(path: Path, env: dict[str, str]) -> tuple[float, list[str]]:
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, str(path), *HEAVY],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        cwd=ROOT,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    return float(result["ms"]), list(result["loaded"])


def cold_imports() -> None:
    env = {
        **os.environ,
        "POWERTOOLS_SERVICE_NAME": "nudge",
        "POWERTOOLS_METRICS_NAMESPACE": "Nudge",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
        "NUDGE_EVENTS_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/1/EventsQueue",
    }
    print(
        f"1. Cold import per handler (fresh interpreter each run, bytecode precompiled as "
        f"`make package` ships it; median of {RUNS})"
    )
    print(f"   {'handler':<20}{'median ms':>8}{'min ms':>9}{'/floor':>8}   heavy modules at import")
    rows = [(name, ROOT / "functions" / name / "app.py") for name in HANDLERS]
    with tempfile.TemporaryDirectory() as scratch:
        for label, source in BASELINES.items():
            path = Path(scratch) / f"{label.replace(' ', '_')}.py"
            path.write_text(source)
            rows.append((f"({label})", path))
        # With bytecode, as `make package` ships the layer (Lambda can't write __pycache__):
        # a first, uncounted import of each row compiles what it imports into the scratch cache
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(Path(scratch) / "pycache")
        for _, path in rows:
            _probe(path, env)
        # interleaved rounds, so a noisy moment slows every row alike
        samples: dict[str, list[float]] = {name: [] for name, _ in rows}
        loaded: dict[str, list[str]] = {}
        for _ in range(RUNS):
            for name, path in rows:
                ms, loaded[name] = _probe(path, env)
                samples[name].append(ms)
        floor = statistics.median(samples[f"({FLOOR})"])
        for name, _ in rows:
            median = statistics.median(samples[name])
            print(
                f"   {name:<20}{median:>8.1f}{min(samples[name]):>9.1f}{median / floor:>7.2f}x   "
                f"{', '.join(loaded[name]) or 'none'}"
            )
        over = [
            name
            for name in HANDLERS
            if name != "push_sender" and statistics.median(samples[name]) > CEILING * floor
        ]
        print(
            f"   floor = Logger + Tracer + Metrics + validating HTTP resolver + boto3 + pydantic; "
            f"non-push handlers over {CEILING}x: {', '.join(over) or 'none'}"
        )
    env.pop("PYTHONPYCACHEPREFIX")  # the scratch cache is gone
    base = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; s=time.perf_counter(); import boto3; "
            "boto3.session.Session().client('dynamodb', region_name='us-east-1'); "
            "print((time.perf_counter()-s)*1000)",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    print(
        f"   for scale: importing boto3 and creating one client takes "
        f"{float(base.stdout):.0f} ms (paid lazily, on first use)\n"
    )


def moto_tables() -> Any:
    """Inside mock_aws: every table of template.yaml; returns a DynamoDB client."""
    import boto3

    from nudge_local.resources import Resolver, create_resources, template_parameters
    from nudge_local.template import read_stack
    from tests.integration.conftest import deploy_parameters

    spec = read_stack()
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    create_resources(
        spec,
        Resolver(template_parameters(spec, deploy_parameters())),
        ddb,
        boto3.client("sqs", region_name="us-east-1"),
        boto3.client("s3", region_name="us-east-1"),
    )
    return ddb


def workload(users: int, days: int, seed: int = 7) -> list[tuple[str, str]]:
    """SQS messages as events_api packs them: one per app request (a session's events).

    A mix of daily, occasional and lapsing users over `days` days, delivered out of order,
    with 10% of messages redelivered by SQS and 5% re-sent by apps that lost a response.
    """
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
            when = start + timedelta(
                days=day, hours=rng.choice([0, 5, 11]), minutes=rng.randint(0, 50)
            )
            names = ["session_start"] + ["screen_view"] * rng.randint(1, 5)
            if rng.random() < 0.25:
                names.append("purchase")
            events = [
                IncomingEvent(
                    event_id=f"u{u}-d{day}-{i}",
                    name=n,
                    timestamp=when + timedelta(seconds=20 * i),
                    properties={"amount": 19.9} if n == "purchase" else {"screen": "home"},
                )
                for i, n in enumerate(names)
            ]
            body = QueuedBatch(
                user_id=f"user-{u:05d}", received_at=when + timedelta(minutes=2), events=events
            ).model_dump_json()
            messages.append((f"m-{len(messages)}", body))
    redelivered = rng.sample(messages, k=len(messages) // 10)
    retried = [
        (f"r-{i}", b) for i, (_, b) in enumerate(rng.sample(messages, k=len(messages) // 20))
    ]
    everything = messages + redelivered + retried
    # arrival order follows time, shuffled within each hour (queues do not keep order)
    everything.sort(key=lambda m: (json.loads(m[1])["received_at"][:13], rng.random()))
    return everything


def write_units() -> None:
    from moto import mock_aws

    from nudge.adapters.dynamo_codec import item_size
    from nudge.adapters.dynamodb import DynamoHistoryStore, DynamoProfileStore
    from nudge.adapters.metering import WriteMeter
    from nudge.clock import ManualClock
    from nudge.domain.config import EngagementConfig
    from nudge.services.pipeline.processing import EventProcessingService
    from nudge.services.pipeline.scheduler import SchedulerService

    users, days = 200, 30
    messages = workload(users, days)
    unique = {e["event_id"] for _, b in messages for e in json.loads(b)["events"]}
    delivered = sum(len(json.loads(b)["events"]) for _, b in messages)
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
        scheduler = SchedulerService(profiles, history, config, clock)
        started = time.perf_counter()
        batches, processed = 0, Counter[str]()
        for index in range(0, len(messages), 10):  # the event source's batches
            batch = messages[index : index + 10]
            received = max(json.loads(body)["received_at"] for _, body in batch)
            arrived = datetime.fromisoformat(received)
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
        sizes = [item_size(i) for i in ddb.scan(TableName="ProfilesTable")["Items"]]
    per_event = meter.total / len(unique)
    print("2. DynamoDB write units per ingested event (mixed workload, counted per write)")
    print(
        f"   {len(unique)} unique events from {users} users over {days} days, "
        f"{len(messages)} SQS messages "
        f"({delivered - len(unique)} duplicate deliveries: SQS redeliveries and app retries)"
    )
    print(
        f"   table writes {meter.table_units} WCU, due-index writes {meter.index_units} WCU "
        "(lifecycle transitions and the nightly scheduler included), "
        f"{meter.writes} write requests"
    )
    print(
        f"   => {per_event:.2f} write units per unique event (target <= 2.0), "
        f"{meter.total / delivered:.2f} per delivered event"
    )
    print(
        f"   profile item: median {statistics.median(sizes):.0f} B, max {max(sizes)} B "
        f"(1 write unit = 1 KB)"
    )
    wcu_cost = per_event * 0.625  # USD per million write request units, on-demand us-east-1
    print(
        f"   DynamoDB on-demand writes ~ ${wcu_cost:.2f} per million events "
        f"(at $0.625 per million write units; Pinpoint charged $1 per million events)"
    )
    print(
        f"   processor over moto: {delivered / elapsed:,.0f} delivered events/s "
        f"(moto, one thread: a floor, not a forecast)"
    )
    calls = ", ".join(f"{name} {n / batches:.1f}" for name, n in processed.most_common())
    print(
        f"   DynamoDB requests per SQS batch of 10: {processed.total() / batches:.1f} ({calls})\n"
    )


def domain_throughput() -> None:
    from nudge.clock import to_epoch
    from nudge.domain.config import EngagementConfig
    from nudge.domain.profiles.aggregates import apply_events
    from nudge.domain.profiles.lifecycle import evaluate
    from nudge.models.events import IncomingEvent
    from nudge.models.profile import Profile

    config = EngagementConfig()
    start = datetime(2026, 3, 2, 7, tzinfo=UTC)
    batches = [
        [
            IncomingEvent(
                event_id=f"e{b}-{i}",
                name=("session_start", "screen_view", "purchase")[i % 3],
                timestamp=start + timedelta(hours=b, seconds=i),
                properties={"amount": 5},
            )
            for i in range(5)
        ]
        for b in range(2000)
    ]
    profile = Profile(user_id="bench-user")
    started = time.perf_counter()
    for index, batch in enumerate(batches):
        now = to_epoch(start + timedelta(hours=index))
        profile = apply_events(profile, batch, config, now)
        profile, _ = evaluate(profile, now, config.lifecycle, "event")
    elapsed = time.perf_counter() - started
    count = sum(len(b) for b in batches)
    print("3. Pure domain: fold + lifecycle evaluation")
    print(
        f"   {count / elapsed:,.0f} events/s in batches of 5 "
        f"({elapsed / len(batches) * 1e6:.0f} us per batch, one core)\n"
    )


def push_figures() -> None:
    """Write units per push (moto), then the sender's throughput against the emulator."""
    from moto import mock_aws

    from nudge.adapters.delivery_log import DynamoDeliveryLog
    from nudge.adapters.devices import DynamoDeviceStore
    from nudge.adapters.metering import WriteMeter
    from nudge.clock import ManualClock
    from nudge.domain.config import EngagementConfig
    from nudge.models.device import Device
    from nudge.models.push import PushJob
    from nudge.services.messaging.push import PushService
    from tests.fakes.delivery_log import FakeFcm

    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    template = {
        "id": "t",
        "category": "transactional",
        "text": {"en": {"title": "Order {{ n }} shipped", "body": "On its way"}},
    }
    jobs = [
        PushJob(
            job_id=f"j{i}",
            user_id=f"u{i % 200}",
            dedupe_key=f"k{i}",
            created_at=now,
            template=template,
            data={"n": i},
        ).model_dump_json()  # type: ignore[arg-type]
        for i in range(1000)
    ]
    with mock_aws():
        ddb = moto_tables()
        devices = DynamoDeviceStore("DevicesTable", WriteMeter(), ddb)
        for u in range(200):
            devices.put_device(
                Device(
                    user_id=f"u{u}",
                    device_id="phone",
                    token=f"token-{u:04d}",
                    platform="android",
                    locale="en-US",
                    created_at=0,
                    updated_at=int(now.timestamp()),
                )
            )
        meter = WriteMeter()
        service = PushService(
            devices,
            DynamoDeliveryLog("DeliveryLogTable", meter, ddb),
            FakeFcm(),
            EngagementConfig(),
            ManualClock(now),
        )
        for body in jobs:
            service.process(body)
        print("4. Push delivery")
        print(
            f"   {meter.total / len(jobs):.2f} DynamoDB write units per push "
            "(claim + outcome in the delivery log; one device each)"
        )

    push_throughput()


PUSH_MESSAGES = 10_000
EMULATOR_LATENCY_MS = 50


def _emulator_process(conn: Any, latency_ms: int) -> None:
    """FCM's stand-in in a process of its own, as FCM is not in the sender's process (the
    local stack's push_sender has its own process too): commands come over a pipe."""
    from nudge_local.fcm_emulator import FcmEmulator

    with tempfile.TemporaryDirectory() as scratch:
        emulator = FcmEmulator("127.0.0.1", 0, Path(scratch))
        emulator.start()
        emulator.latency_s = latency_ms / 1000
        conn.send((emulator.url, str(emulator.ca_path)))
        while (command := conn.recv()) != "stop":
            assert command == "stats"
            times = os.times()
            conn.send({**emulator.stats(), "cpu_s": times.user + times.system})
        emulator.stop()


def _bare_httpx(url: str, ca_path: str, messages: list[dict[str, Any]]) -> tuple[float, float]:
    """The floor under any sender here: plain httpx requests, no SDK, no auth (req/s, CPU s)."""
    import asyncio
    import ssl

    import httpx

    async def run() -> tuple[float, float]:
        trust = ssl.create_default_context(cafile=ca_path)
        streams = asyncio.Semaphore(100)
        async with httpx.AsyncClient(http2=True, verify=trust) as client:

            async def post(message: dict[str, Any]) -> None:
                async with streams:
                    await client.post(
                        f"{url}/v1/projects/p/messages:send",
                        json={"message": message},
                        headers={"authorization": "Bearer local"},
                    )

            await asyncio.gather(*(post(m) for m in messages[:100]))  # connect, warm up
            cpu, started = os.times(), time.perf_counter()
            await asyncio.gather(*(post(m) for m in messages))
            elapsed, spent = time.perf_counter() - started, os.times()
        return len(messages) / elapsed, (spent.user + spent.system - cpu.user - cpu.system) / len(
            messages
        )

    return asyncio.run(run())


def push_throughput() -> None:
    """FirebaseSender.send (send_each_async over HTTP/2) against the emulator at 50 ms."""
    import multiprocessing

    from nudge.adapters import fcm
    from nudge.adapters.fcm import FirebaseSender
    from nudge_local.fcm_emulator import PROJECT_ID, service_account

    context = multiprocessing.get_context("spawn")
    here, there = context.Pipe()
    child = context.Process(target=_emulator_process, args=(there, EMULATOR_LATENCY_MS))
    child.start()
    try:
        url, ca_path = here.recv()
        os.environ["SSL_CERT_FILE"] = ca_path  # this process only, as the stack does
        sender = FirebaseSender(lambda: service_account(f"{url}/token"), PROJECT_ID, url)
        messages = [
            {
                "token": f"token-{i:06d}",
                "notification": {"title": f"Order {i} shipped", "body": "On its way"},
                "data": {"job_id": f"j{i}", "order": str(i)},
                "android": {"priority": "HIGH", "ttl": "86400s"},
                "apns": {"payload": {"aps": {"sound": "default"}}},
            }
            for i in range(PUSH_MESSAGES)
        ]
        bare_rate, bare_cpu = _bare_httpx(url, ca_path, messages[:2000])
        here.send("stats")
        fresh = here.recv()
        sender.send(messages[:50])  # warm-up: app, credentials, connections
        here.send("stats")
        before = here.recv()
        cpu = os.times()
        started = time.perf_counter()
        results = sender.send(messages)
        elapsed = time.perf_counter() - started
        cpu_after = os.times()
        here.send("stats")
        after = here.recv()
        sender.close()
    finally:
        here.send("stop")
        child.join(timeout=10)
    ok = sum(r.ok for r in results)
    sender_cpu = (cpu_after.user + cpu_after.system) - (cpu.user + cpu.system)
    emulator_cpu = after["cpu_s"] - before["cpu_s"]
    http2 = after["requests"].get("2", 0) - before["requests"].get("2", 0)
    connections = after["connections"] - fresh["connections"]  # all the sender's
    print(
        f"   FirebaseSender.send of {len(messages):,} messages: {ok:,} sent in {elapsed:.2f} s "
        f"with send_each_async ({fcm.CALL_SIZE} per call, {fcm.CONNECTIONS} calls at a time), "
        f"{http2:,} requests over HTTP/2"
    )
    print(
        f"   CPU per message: sender {sender_cpu / len(messages) * 1000:.2f} ms, emulator "
        f"{emulator_cpu / len(messages) * 1000:.2f} ms (each its own process; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    print(
        f"   for scale: bare httpx, one HTTP/2 connection, 100 streams, no SDK: {bare_rate:,.0f} "
        f"req/s at {bare_cpu * 1000:.2f} ms of CPU per request"
    )
    per_message = (sender_cpu + emulator_cpu) / len(messages)
    print(
        f"   CPU ceiling here: {os.cpu_count()} cores / {per_message * 1000:.2f} ms per message "
        f"(sender + emulator) = {(os.cpu_count() or 1) / per_message:,.0f} msg/s at best"
    )
    print(
        f"push throughput: {ok / elapsed:.0f} msg/s ({connections} connections, "
        f"{EMULATOR_LATENCY_MS} ms emulator latency)\n"
    )


def main() -> int:
    print(f"Nudge benchmarks - Python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    cold_imports()
    write_units()
    domain_throughput()
    push_figures()
    feature_figures()
    return 0


def feature_figures() -> None:
    """Campaigns, geofences, NPS and the scheduler: each module prints its own measured lines."""
    from tests.bench.campaigns import run_campaign_bench
    from tests.bench.geo import run_geo_bench
    from tests.bench.nps import run_nps_bench
    from tests.bench.regional import run_regional_bench
    from tests.bench.scheduler import run_scheduler_bench

    for title, run in (
        ("5. Campaigns", run_campaign_bench),
        ("6. Geofences", run_geo_bench),
        ("7. NPS", run_nps_bench),
        ("8. Scheduler", run_scheduler_bench),
        ("9. Regional response model", run_regional_bench),
    ):
        print(title)
        for line in run():
            print(f"   {line}")
        print()


if __name__ == "__main__":
    raise SystemExit(main())
