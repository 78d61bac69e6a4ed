"""`make bench`: figures, not pass/fail tests.

1. cold import per handler, each in a fresh interpreter (median of several runs), and which
   heavy modules the import pulled in;
2. DynamoDB write units per ingested event, on how apps send events (5-20 a request) and on
   the worst case (1 a request), counted from the items actually written
   (tests/bench/event_writes.py);
3. throughput of the pure domain fold, and of the processor over moto (moto is far slower
   than DynamoDB: read it as a ratio, not as production latency);
4. write units per push, and push_sender's FirebaseSender.send (send_each_async, HTTP/2)
   against the FCM emulator at 50 ms latency, each in its own process: throughput, the
   connections used and the CPU per message on each side (the sender's by layer, sampled,
   beside bare httpx's), and PushService's own CPU per job over in-memory fakes.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
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


def push_figures() -> float:
    """Write units per push and device on a realistic mix (moto, tests/bench/push_mix.py),
    then the sender's throughput against the emulator; returns the mix's write units."""
    from tests.bench.push_mix import push_mix_lines

    print("4. Push delivery")
    lines, per_push = push_mix_lines()
    for line in lines:
        print(f"   {line}")

    push_throughput()
    return per_push


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


def _bare_httpx(
    url: str, ca_path: str, messages: list[dict[str, Any]], sampler: Any
) -> tuple[float, float]:
    """The floor under any sender here: plain httpx requests, no SDK, no auth flow and a 5-byte
    bearer token (req/s, CPU s per request); `sampler` shares the timed part out by layer."""
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
            with sampler:
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
    from tests.bench.cpu_layers import LayerSampler, describe
    from tests.bench.push_service_cpu import push_service_cpu

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
        bare_layers, sender_layers = LayerSampler(), LayerSampler()
        bare_rate, bare_cpu = _bare_httpx(url, ca_path, messages[:2000], bare_layers)
        here.send("stats")
        fresh = here.recv()
        sender.send(messages[:50])  # warm-up: app, credentials, connections
        here.send("stats")
        before = here.recv()
        with sender_layers:
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
    # whose code the sender's CPU goes to (sampled), beside the same for bare httpx: the gap
    # is what firebase-admin and Nudge add; 'hpack Huffman' is the bearer token's coding,
    # once per connection since fcm_transport.RememberingHuffman (~0.3 ms a message before)
    print(
        "   sender CPU per message by layer, ms: "
        f"{describe(sender_layers.per_item_ms(sender_cpu, len(messages)))}"
    )
    print(
        "   bare httpx CPU per request by layer, ms: "
        f"{describe(bare_layers.per_item_ms(bare_cpu, 1))}"
    )
    per_message = (sender_cpu + emulator_cpu) / len(messages)
    print(
        f"   CPU ceiling here: {os.cpu_count()} cores / {per_message * 1000:.2f} ms per message "
        f"(sender + emulator) = {(os.cpu_count() or 1) / per_message:,.0f} msg/s at best"
    )
    per_job, building = push_service_cpu()
    print(
        f"   PushService.process over in-memory fakes: {per_job:.2f} ms of CPU per job, of which "
        f"{building:.2f} ms rendering and building the FCM message (before FirebaseSender.send)"
    )
    print(
        f"push throughput: {ok / elapsed:.0f} msg/s ({connections} connections, "
        f"{EMULATOR_LATENCY_MS} ms emulator latency)\n"
    )


def main() -> int:
    print(f"Nudge benchmarks - Python {sys.version.split()[0]}, {os.cpu_count()} cores\n")
    from tests.bench.cost_bench import print_cost_figures
    from tests.bench.event_writes import report as event_write_units

    cold_imports()
    realistic, worst = event_write_units()
    domain_throughput()
    per_push = push_figures()
    feature_figures()
    print_cost_figures(
        wru_per_event=realistic.per_event,
        events_per_request=realistic.events_per_request,
        worst_wru_per_event=worst.per_event,
        wru_per_push=per_push,
    )
    return 0


def feature_figures() -> None:
    """Campaigns, geofences, NPS and the scheduler: each module prints its own measured lines."""
    from tests.bench.campaigns import run_campaign_bench
    from tests.bench.geo import run_geo_bench
    from tests.bench.nps import run_nps_bench
    from tests.bench.pinpoint import run_pinpoint_bench
    from tests.bench.regional import run_regional_bench
    from tests.bench.scheduler import run_scheduler_bench

    for title, run in (
        ("5. Campaigns", run_campaign_bench),
        ("6. Geofences", run_geo_bench),
        ("7. NPS", run_nps_bench),
        ("8. Scheduler", run_scheduler_bench),
        ("9. Regional response model", run_regional_bench),
        ("10. Pinpoint endpoint import (moto)", run_pinpoint_bench),
    ):
        print(title)
        for line in run():
            print(f"   {line}")
        print()


if __name__ == "__main__":
    raise SystemExit(main())
