"""Measures what cost.py prices: the real handlers over moto, with the template's IAM.

events_api and event_processor run at 1 event per request and at SIZE events per request (a
line through the two gives any size: run.py passes its workload's), push_sender over batches
of transactional pushes (1 and the event source's BatchSize). Per invocation it records:
- the billed wall time: the CPU the handler spent outside AWS calls, scaled to the function's
  share of a vCPU (Lambda gives 1,769 MB one vCPU), plus each AWS call at an assumed in-region
  latency (Lambda bills wall time, so waiting counts), plus FCM's wait for push_sender;
- the bytes it logs: Powertools lines and EMF blobs as the handler writes them, Lambda's
  START/END/REPORT lines, and for events_api the HTTP API's access log line (the template's
  format); EMF blobs also name the custom metrics;
- DynamoDB read units, computed from what each read returned (a botocore hook: 4 KB units,
  half for eventually consistent reads, at least one per item asked for), and write units
  from the adapters' meter.
Warm environments only: a cold start is spread over many invocations.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.bench.cost import EventPipeline, Linear, PushPipeline
from tests.bench.cost_meters import (
    CallMeter,
    access_log_bytes,
    captured_logs,
    custom_metrics,
    platform_log_bytes,
)
from tests.bench.scheduler import CALL_LATENCY_MS, FULL_VCPU_MB

FCM_ROUND_TRIP_MS = 50.0  # assumed wait per FCM send call (the bench's emulator latency)
XRAY_SAMPLED = 0.05  # the default rule: 1 request/s reservoir + 5 % of the rest (~5 % at volume)
SIZE = 10  # events per request of the second measurement
USERS = 50  # one batch of the event source holds one request of each user
ROUNDS = 4  # measured rounds (after one to warm up)
START = datetime(2026, 3, 2, 7, tzinfo=UTC)


@dataclass
class Invocations:
    """What a function's measured invocations cost, averaged per invocation."""

    memory_mb: int
    messages: list[int] = field(default_factory=list)  # SQS messages (or requests) in each
    billed_ms: list[float] = field(default_factory=list)
    log_bytes: list[float] = field(default_factory=list)
    wru: list[float] = field(default_factory=list)
    rru: list[float] = field(default_factory=list)
    calls: list[float] = field(default_factory=list)
    metrics: set[Any] = field(default_factory=set)
    rru_by_call: dict[str, float] = field(default_factory=dict)
    calls_by_op: Counter[str] = field(default_factory=Counter)

    def mean(self, values: list[float]) -> float:
        return sum(values) / len(values)


class CountingFcm:
    """FCM that answers at once (tests/fakes): its wait is modelled per send call instead."""

    def __init__(self) -> None:
        from tests.fakes.delivery_log import FakeFcm

        self.inner = FakeFcm()
        self.sends = 0

    def send(self, messages: Any) -> list[Any]:
        if messages:
            self.sends += 1
        return self.inner.send(messages)


class Stack:
    """template.yaml deployed into moto, the handlers loaded as warm environments."""

    def __init__(self) -> None:
        from nudge import runtime
        from nudge.adapters import aws as aws_clients
        from nudge.clock import ManualClock
        from nudge_local.functions import LocalFunction
        from nudge_local.resources import Resolver, create_resources, template_parameters
        from nudge_local.template import read_stack
        from tests.integration.conftest import _reset_caches, deploy_parameters

        os.environ["AWS_DEFAULT_REGION"] = "us-east-1"  # as deployed; restored by the caller
        self.spec = read_stack()
        self.resolver = Resolver(template_parameters(self.spec, deploy_parameters()))
        import boto3

        self.sqs = boto3.client("sqs", region_name="us-east-1")
        self.ddb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        create_resources(self.spec, self.resolver, self.ddb, self.sqs, s3)
        # IAM is not enforced: the integration tests do that, and its checks would be CPU
        # inside the timed handler that AWS does not charge to the function
        for function in self.spec.functions.values():
            os.environ.update(
                {k: str(v) for k, v in self.resolver.resolve(function.environment).items()}
            )
        _reset_caches()
        self.clock = ManualClock(START)
        runtime.set_clock(self.clock)
        self.meter = CallMeter()
        for service in ("dynamodb", "sqs", "s3"):
            self.meter.attach(aws_clients.client(service))
        self.functions = {name: LocalFunction(f) for name, f in self.spec.functions.items()}
        self.fcm: CountingFcm | None = None
        self._fcm_seen = 0
        # calls made side by side, this many at once, wait one CALL_LATENCY_MS per round
        # (None: every call waits its own, as before; only the push measurement sets it)
        self.parallel_calls: int | None = None
        tracing = self.spec.template.get("Globals", {}).get("Function", {}).get("Tracing")
        self.traced = tracing == "Active"

    def batch_size(self, function: str) -> int:
        return next(s.batch_size for s in self.spec.sqs_sources if s.function == function)

    def invoke(
        self, function: str, event: dict[str, Any], into: Invocations, messages: int = 1
    ) -> Any:
        """Invoke warm, recording into `into`; FCM sends made count FCM_ROUND_TRIP_MS each."""
        from nudge.adapters.metering import METER

        wru, rru, calls = METER.total, self.meter.rru, self.meter.calls.total()
        threaded = self.meter.threaded
        call_cpu = self.meter.cpu_s
        reads, ops = dict(self.meter.rru_by_call), Counter(self.meter.calls)
        with captured_logs() as logs:
            started = time.process_time()
            result = self.functions[function].invoke(event)
            cpu = time.process_time() - started - (self.meter.cpu_s - call_cpu)
        made = self.meter.calls.total() - calls
        waited = made
        if self.parallel_calls:  # e.g. push_sender's batch of device reads: rounds, not calls
            side = self.meter.threaded - threaded
            waited = made - side + math.ceil(side / self.parallel_calls)
        share = max(1.0, FULL_VCPU_MB / into.memory_mb)
        into.messages.append(messages)
        waits = self.fcm_sends() * FCM_ROUND_TRIP_MS
        into.billed_ms.append(cpu * 1000 * share + waited * CALL_LATENCY_MS + waits)
        text = logs.getvalue()
        into.log_bytes.append(len(text.encode()) + platform_log_bytes(into.memory_mb, self.traced))
        into.wru.append(METER.total - wru)
        into.rru.append(self.meter.rru - rru)
        into.calls.append(made)
        into.metrics |= custom_metrics(text)
        for key, units in self.meter.rru_by_call.items():
            if units != reads.get(key, 0.0):
                into.rru_by_call[key] = into.rru_by_call.get(key, 0.0) + units - reads.get(key, 0.0)
        into.calls_by_op.update(self.meter.calls - ops)
        return result

    def fcm_sends(self) -> int:
        """FCM send calls since the last look (each waits FCM_ROUND_TRIP_MS in AWS)."""
        sends = self.fcm.sends if self.fcm else 0
        made, self._fcm_seen = sends - self._fcm_seen, sends
        return made

    def receive(self, queue: str, count: int) -> list[dict[str, Any]]:
        url = self.resolver.physical[queue]["QueueUrl"]
        messages: list[Any] = []
        while len(messages) < count:
            batch = self.sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, count - len(messages)),
                AttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            messages.extend(batch)
        return messages


def _events_at(stack: Stack, size: int) -> tuple[Invocations, Invocations, int]:
    """One round to warm up, then ROUNDS rounds: each user sends one request of `size` events
    an hour; event_processor takes the queue in the event source's batches."""
    from nudge_local.gateway import build_event
    from tests.integration.conftest import sqs_event

    api_spec = stack.functions["EventsApiFunction"].spec
    processor_spec = stack.functions["EventProcessorFunction"].spec
    batch = stack.batch_size("EventProcessorFunction")
    api, processor = Invocations(api_spec.memory), Invocations(processor_spec.memory)
    scratch = (Invocations(api_spec.memory), Invocations(processor_spec.memory))
    for round_ in range(ROUNDS + 1):
        into = (api, processor) if round_ else scratch
        at = START + timedelta(days=size, hours=round_)  # a fresh day per size: no old state
        for user in range(USERS):
            stack.clock.set(at + timedelta(seconds=user))
            names = ["session_start", "screen_view", "screen_view", "purchase", "screen_view"]
            events = [
                {
                    "event_id": f"s{size}-r{round_}-u{user}-{i}",
                    "name": names[i % len(names)],
                    "timestamp": (stack.clock.now() - timedelta(seconds=size - i)).isoformat(),
                    "properties": {"amount": 9.5}
                    if names[i % len(names)] == "purchase"
                    else {"screen": "home"},
                }
                for i in range(size)
            ]
            body = json.dumps({"events": events}).encode()
            authorizer = {"jwt": {"claims": {"sub": f"user-{user:03d}"}, "scopes": None}}
            event = build_event(
                "POST",
                "/v1/events",
                "",
                {"content-type": "application/json"},
                body,
                "POST /v1/events",
                {},
                authorizer,
            )
            response = stack.invoke("EventsApiFunction", event, into[0])
            assert response["statusCode"] == 202, response
        stack.clock.set(at + timedelta(minutes=2))
        while messages := stack.receive("EventsQueue", batch):
            event = sqs_event("EventsQueue", messages)
            stack.invoke("EventProcessorFunction", event, into[1], len(messages))
    return api, processor, batch


def measure_events() -> tuple[EventPipeline, dict[str, Any]]:
    """events_api and event_processor at 1 and SIZE events per request."""
    from moto import mock_aws

    saved = dict(os.environ)
    try:
        with mock_aws():
            stack = Stack()
            one_api, one_processor, batch = _events_at(stack, 1)
            many_api, many_processor, _ = _events_at(stack, SIZE)
            template = stack.spec.template
            traced = stack.traced
    finally:
        _restore(saved)

    def fit(one: Invocations, many: Invocations, values: str, per: int) -> Linear:
        """Per invocation of `per` messages, by events per message (a line through 1 and SIZE)."""
        return Linear.through(
            (1, _per_message(one, values) * per), (SIZE, _per_message(many, values) * per)
        )

    access = access_log_bytes(template, "POST /v1/events", 202)
    api_logs = fit(one_api, many_api, "log_bytes", 1)
    pipeline = EventPipeline(
        api_memory_mb=one_api.memory_mb,
        api_ms=fit(one_api, many_api, "billed_ms", 1),
        api_log_bytes=Linear(api_logs.fixed + access, api_logs.per_event),
        api_wru=fit(one_api, many_api, "wru", 1),
        api_rru=fit(one_api, many_api, "rru", 1),
        processor_memory_mb=one_processor.memory_mb,
        batch_size=batch,
        processor_ms=fit(one_processor, many_processor, "billed_ms", batch),
        processor_log_bytes=fit(one_processor, many_processor, "log_bytes", batch),
        processor_wru=fit(one_processor, many_processor, "wru", batch),
        processor_rru=fit(one_processor, many_processor, "rru", batch),
        traced_fraction=XRAY_SAMPLED if traced else 0.0,
        custom_metrics=len(
            one_api.metrics | many_api.metrics | one_processor.metrics | many_processor.metrics
        ),
    )
    detail = {
        "api calls per request": _by(many_api.calls_by_op, sum(many_api.messages)),
        "processor calls per message": _by(
            many_processor.calls_by_op, sum(many_processor.messages)
        ),
        "processor read units per message": _by(
            many_processor.rru_by_call, sum(many_processor.messages)
        ),
        "access log bytes": access,
    }
    return pipeline, detail


def _per_message(runs: Invocations, values: str) -> float:
    """Per message (request): the invocations' total over the messages they held."""
    return sum(getattr(runs, values)) / sum(runs.messages)


def measure_pushes() -> tuple[PushPipeline, dict[str, Any]]:
    """push_sender over transactional pushes to one device each: batches of 1 and full ones."""
    from moto import mock_aws

    from nudge import runtime
    from nudge.adapters.devices import PARALLEL_READS, DynamoDeviceStore
    from nudge.adapters.sqs import SqsPushQueue
    from nudge.models.device import Device
    from nudge.models.push import PushJob
    from tests.integration.conftest import sqs_event

    saved = dict(os.environ)
    try:
        with mock_aws():
            stack = Stack()
            stack.fcm = CountingFcm()
            runtime.push_service().fcm = stack.fcm
            stack.parallel_calls = PARALLEL_READS  # the batch's users' partitions, at once
            spec = stack.functions["PushSenderFunction"].spec
            producer = stack.functions["EventProcessorFunction"].spec  # campaign sends
            batch = stack.batch_size("PushSenderFunction")
            devices = DynamoDeviceStore(os.environ["NUDGE_DEVICES_TABLE"])
            queue = SqsPushQueue(os.environ["NUDGE_PUSHES_QUEUE_URL"])
            now = stack.clock.now()
            for user in range(batch):
                devices.put_device(
                    Device(
                        user_id=f"u{user}",
                        device_id="phone",
                        token=f"token-{user:04d}",
                        platform="android",
                        locale="en-US",
                        created_at=0,
                        updated_at=int(now.timestamp()),
                    )
                )
            template = {
                "id": "t",
                "category": "transactional",
                "text": {"en": {"title": "Order {{ n }} shipped", "body": "On its way"}},
            }
            jobs = iter(range(10**6))

            def run(size: int, into: Invocations) -> None:
                for _ in range(size):
                    i = next(jobs)
                    job = PushJob(
                        job_id=f"j{i}",
                        user_id=f"u{i % batch}",
                        dedupe_key=f"k{i}",
                        created_at=now,
                        template=template,
                        data={"n": i},
                    )
                    queue.enqueue(job.model_dump_json())
                messages = stack.receive("PushesQueue", size)
                stack.invoke("PushSenderFunction", sqs_event("PushesQueue", messages), into, size)

            scratch = Invocations(spec.memory)
            run(5, scratch)  # warm: credentials, clients, templates
            one, full = Invocations(spec.memory), Invocations(spec.memory)
            for _ in range(ROUNDS):
                run(1, one)
                run(batch, full)
            traced = stack.traced
    finally:
        _restore(saved)

    def fit(values: str) -> Linear:
        return Linear.through(
            (1, _per_message(one, values)), (batch, _per_message(full, values) * batch)
        )

    pipeline = PushPipeline(
        memory_mb=spec.memory,
        batch_size=batch,
        sender_ms=fit("billed_ms"),
        log_bytes=fit("log_bytes"),
        wru=fit("wru"),
        rru=fit("rru"),
        # a campaign send: one SendMessage per push (a user's pass queues its sends together,
        # ten a request, but a pass rarely has more than one; broadcasts already send ten)
        enqueue_requests=1.0,
        producer_ms=CALL_LATENCY_MS,
        producer_memory_mb=producer.memory,
        traced_fraction=XRAY_SAMPLED if traced else 0.0,
        custom_metrics=len(one.metrics | full.metrics),
    )
    pushes = sum(full.messages)
    return pipeline, {
        "push_sender calls per push": _by(full.calls_by_op, pushes),
        "push_sender read units per push": _by(full.rru_by_call, pushes),
    }


def _by(counts: Mapping[str, float], items: int) -> str:
    ordered = sorted(counts.items(), key=lambda pair: -pair[1])
    return ", ".join(f"{name} {n / items:.2f}" for name, n in ordered) or "none"


def _restore(saved: dict[str, str]) -> None:
    from nudge import runtime
    from nudge.clock import SystemClock
    from tests.integration.conftest import _reset_caches

    _reset_caches()
    runtime.set_clock(SystemClock())
    os.environ.clear()
    os.environ.update(saved)
