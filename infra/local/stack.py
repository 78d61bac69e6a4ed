"""The embedded local stack: moto + gateway + SQS pollers + a virtual clock driving schedules."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from nudge_local import iam
from nudge_local.auth import (
    LOCAL_AUDIENCE,
    LOCAL_ISSUER,
    AdminCredential,
    generate_private_key_pem,
    public_key_pem,
    write_secret,
)
from nudge_local.fcm_emulator import PROJECT_ID, FcmEmulator, service_account
from nudge_local.gateway import start_gateway
from nudge_local.resources import REGION, Resolver, create_resources, template_parameters
from nudge_local.s3_events import S3Watcher
from nudge_local.sqs_events import Activity, SqsPoller
from nudge_local.template import PROJECT_ROOT, Route, StackSpec, read_stack
from nudge_local.workers import SharedOffsetClock, WorkerFunction, new_offset

log = logging.getLogger("devstack")
DEFAULT_STATE_DIR = PROJECT_ROOT / ".nudge"
# Fast-forwarding fires the schedule every 6 virtual hours, not every 15 minutes: lifecycle
# checks are evaluated as of their due time anyway, and campaign sends (delays, 09:00-local
# schedules, dwell) land within those hours instead of a day late (moto makes every tick
# cost; a clock moved by less fires one tick at its end).
FAST_FORWARD_TICK_S = 6 * 3_600
POLLERS_PER_SOURCE = 2  # Lambda runs several batches of one queue at once, each in its own
# environment (a process here): one waits on AWS while the other computes


def fcm_environment(fcm: FcmEmulator) -> dict[str, str]:
    """For functions that talk to FCM: the emulator, trusted through its CA. Only their
    processes get the CA (httpx reads SSL_CERT_FILE, requests REQUESTS_CA_BUNDLE): never the
    stack's own environment, nor any other function's."""
    return {
        "NUDGE_FCM_PROJECT_ID": PROJECT_ID,
        "NUDGE_FCM_ENDPOINT": fcm.url,
        "NUDGE_FCM_CREDENTIALS_JSON": service_account(f"{fcm.url}/token"),
        "REQUESTS_CA_BUNDLE": str(fcm.ca_path),
        "SSL_CERT_FILE": str(fcm.ca_path),
    }


def function_environments(
    spec: StackSpec, resolver: Resolver, base_env: dict[str, str], fcm_env: dict[str, str]
) -> dict[str, dict[str, str]]:
    """Each function's environment: the template's variables over `base_env`, plus `fcm_env`
    for the functions whose template declares NUDGE_FCM_PROJECT_ID."""
    environments = {}
    for name, function in spec.functions.items():
        env = {k: str(v) for k, v in resolver.resolve(function.environment).items()}
        if "NUDGE_FCM_PROJECT_ID" in env:
            env.update(fcm_env)
        environments[name] = {**base_env, **env}
    return environments


def stop_group(leader: int, how: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, how)


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalStack:
    def __init__(
        self,
        state_dir: Path = DEFAULT_STATE_DIR,
        host: str = "127.0.0.1",
        port: int = 0,
        start: datetime | None = None,
        retry_delay_s: float = 1.0,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.host = host
        self.port = port or free_port(host)
        self.clock = SharedOffsetClock(new_offset(start))
        self.retry_delay_s = retry_delay_s
        self.parameter_overrides = parameters or {}
        self.spec = read_stack()
        self.functions: dict[str, WorkerFunction] = {}  # the first of each one's environments
        self.environments: dict[str, list[WorkerFunction]] = {}
        self.pollers: list[SqsPoller] = []
        self.wakeups: dict[str, Activity] = defaultdict(Activity)  # per queue
        self.watchers: list[S3Watcher] = []
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self._stop = threading.Event()
        self._clock_lock = threading.RLock()
        self._last_tick: dict[str, int] = {}
        self._last_fired: dict[str, int] = {}
        self.admin_credential = AdminCredential("AKIANUDGELOCALADMIN", os.urandom(20).hex(), REGION)
        self.jwt_issuer = LOCAL_ISSUER
        self.jwt_audiences = [LOCAL_AUDIENCE]

    # ---------- lifecycle ----------
    def start(self) -> dict[str, Any]:
        self.moto_url = self._start_moto()
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.moto_url,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_REGION": REGION,
            }
        )
        session = boto3.session.Session(region_name=REGION)
        self.sqs = session.client("sqs", endpoint_url=self.moto_url)
        self.ddb = session.client("dynamodb", endpoint_url=self.moto_url)
        s3 = self.s3 = session.client("s3", endpoint_url=self.moto_url)

        parameters = template_parameters(
            self.spec,
            {
                "JwtIssuer": self.jwt_issuer,
                "JwtAudience": ",".join(self.jwt_audiences),
                **self.parameter_overrides,
            },
        )
        self.resolver = Resolver(parameters)
        create_resources(self.spec, self.resolver, self.ddb, self.sqs, s3)
        base_env = {
            key: os.environ[key]
            for key in (
                "AWS_ENDPOINT_URL",
                "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY",
                "AWS_DEFAULT_REGION",
                "AWS_REGION",
                "PATH",
                "HOME",
            )
            if key in os.environ
        }
        base_env["POWERTOOLS_TRACE_DISABLED"] = "true"  # no X-Ray daemon locally
        self.fcm = FcmEmulator(self.host, 0, self.state_dir)
        self.fcm.start()
        environments = function_environments(
            self.spec, self.resolver, base_env, fcm_environment(self.fcm)
        )
        fed_by_sqs = {source.function for source in self.spec.sqs_sources}
        # each function's IAM role from the template, enforced in its own processes
        roles = iam.stack_roles(self.spec, self.resolver)
        table_keys = iam.TableKeys.from_spec(self.spec, self.resolver)
        for name, function in self.spec.functions.items():
            # each concurrent batch in an environment of its own
            count = POLLERS_PER_SOURCE if name in fed_by_sqs else 1
            role = (roles[name], table_keys)
            self.environments[name] = [
                WorkerFunction(function, environments[name], self.clock._offset, role)
                for _ in range(count)
            ]
            self.functions[name] = self.environments[name][0]
        starters = [threading.Thread(target=f.start) for f in self._all_environments()]
        for starter in starters:
            starter.start()
        for starter in starters:
            starter.join()

        private_pem = generate_private_key_pem()
        self.jwt_private_key_path = self.state_dir / "jwt-private.pem"
        write_secret(self.jwt_private_key_path, private_pem)
        self.jwt_public_pem = public_key_pem(private_pem)

        self.gateway = start_gateway(self, self.host, self.port)
        threading.Thread(target=self.gateway.serve_forever, name="gateway", daemon=True).start()
        for source in self.spec.sqs_sources:
            queue = self.resolver.physical[source.queue]
            for environment in self.environments[source.function]:
                poller = SqsPoller(
                    source,
                    environment,
                    self.sqs,
                    queue["QueueUrl"],
                    queue["Arn"],
                    self.retry_delay_s,
                    self._stop,
                    self.wakeups[source.queue],
                )
                poller.start()
                self.pollers.append(poller)
        for bucket in sorted({source.bucket for source in self.spec.s3_sources}):
            watcher = S3Watcher(
                self.resolver.physical[bucket]["Ref"],
                [source for source in self.spec.s3_sources if source.bucket == bucket],
                self.functions,
                s3,
                self._stop,
            )
            watcher.start()
            self.watchers.append(watcher)
        now = int(self.clock.now().timestamp())
        for schedule in self.spec.schedules:
            self._last_tick[schedule.function] = now - now % schedule.every_seconds
        threading.Thread(target=self._ticker, name="scheduler", daemon=True).start()
        return self.write_state()

    def _start_moto(self) -> str:
        """moto server in its own process: AWS emulation gets a core of its own. It leads its
        own process group: granian serves from a worker process that must go with it."""
        port = free_port(self.host)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / "moto.log").open("ab") as log:
            self.moto = subprocess.Popen(
                [sys.executable, "-m", "nudge_local.moto_server", self.host, str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        url = f"http://{self.host}:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.moto.poll() is not None:
                raise RuntimeError(f"moto server exited; see {self.state_dir / 'moto.log'}")
            try:
                with socket.create_connection((self.host, port), timeout=0.5):
                    return url
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("moto server did not start within 30s")

    def write_state(self) -> dict[str, Any]:
        state = {
            "api_url": f"http://{self.host}:{self.port}",
            "moto_url": self.moto_url,
            "moto_pid": self.moto.pid,  # and process group
            "pid": os.getpid(),
            "region": REGION,
            "jwt": {
                "issuer": self.jwt_issuer,
                "audience": self.jwt_audiences[0],
                "private_key_path": str(self.jwt_private_key_path),
            },
            "admin": {
                "access_key": self.admin_credential.access_key,
                "secret_key": self.admin_credential.secret_key,
            },
            "queues": {n: p["Ref"] for n, p in self.resolver.physical.items() if "QueueUrl" in p},
            "tables": {
                n: p["Ref"]
                for n, p in self.resolver.physical.items()
                if ":dynamodb:" in p.get("Arn", "")
            },
            "buckets": {
                n: p["Ref"]
                for n, p in self.resolver.physical.items()
                if ":s3:::" in p.get("Arn", "")
            },
            "fcm_url": self.fcm.url,
            "started_at": datetime.now(UTC).isoformat(),
        }
        write_secret(self.state_dir / "local.json", json.dumps(state, indent=2).encode())
        return state

    def _all_environments(self) -> list[WorkerFunction]:
        return [e for envs in self.environments.values() for e in envs]

    def stop(self) -> None:
        self._stop.set()
        for function in self._all_environments():
            function.stop()
        self.fcm.stop()
        stop_group(self.moto.pid, signal.SIGTERM)
        self.gateway.shutdown()
        self.gateway.server_close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.moto.wait(timeout=5)
        stop_group(self.moto.pid, signal.SIGKILL)  # a worker still busy with a long poll

    # ---------- routing ----------
    def match_route(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.spec.routes:
            if route.method not in (method, "ANY"):
                continue
            match = route.pattern.match(path)
            if match:
                return route, match.groupdict()
        return None, {}

    def record_latency(self, function: str, seconds: float) -> None:
        samples = self.latencies[function]
        samples.append(seconds)
        if len(samples) > 5000:
            del samples[:1000]

    # ---------- queues ----------
    def queue_depths(self, only: set[str] | None = None) -> dict[str, dict[str, int]]:
        depths = {}
        for name, physical in self.resolver.physical.items():
            if "QueueUrl" not in physical or (only is not None and name not in only):
                continue
            attributes = self.sqs.get_queue_attributes(
                QueueUrl=physical["QueueUrl"],
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            depths[name] = {
                "visible": int(attributes["ApproximateNumberOfMessages"]),
                "in_flight": int(attributes["ApproximateNumberOfMessagesNotVisible"]),
                "delayed": int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
            }
        return depths

    def drain(self, timeout_s: float = 60.0) -> dict[str, Any]:
        """Wait until every queue with a consumer is empty and no poller is mid-batch.

        Depths are read before the pollers' busy flags: a poller deletes what it handled
        before it clears its flag, so "empty, then idle" means nothing is left in flight.
        """
        consumed = {source.queue for source in self.spec.sqs_sources}
        deadline = time.monotonic() + timeout_s
        settled, listed_at = False, 0.0
        depths: dict[str, dict[str, int]] = {}
        while True:
            if not settled or time.monotonic() - listed_at > 0.5:  # a listing costs moto
                settled = all(watcher.settled() for watcher in self.watchers)  # config uploads
                listed_at = time.monotonic()
            # while a poller works, the queues are not empty by definition: asking moto
            # for depths then only slows the work down
            if settled and not any(p.busy for p in self.pollers):
                depths = self.queue_depths(consumed)
                parked = self.parked_counts()
                pending = sum(
                    d["visible"] + d["delayed"] + max(0, d["in_flight"] - parked.get(queue, 0))
                    for queue, d in depths.items()
                )
                if pending == 0 and not any(p.busy for p in self.pollers):
                    return {"drained": True, "queues": depths}
                for queue, depth in depths.items():  # pollers resting in their back-off
                    if depth["visible"]:
                        self.wakeups[queue].poke()
            if time.monotonic() >= deadline:
                log.warning(
                    "drain timed out: queues %s, parked %s, watchers settled %s, busy pollers %s",
                    depths,
                    self.parked_counts(),
                    settled,
                    [p.source.queue for p in self.pollers if p.busy],
                )
                return {"drained": False, "queues": depths}
            time.sleep(0.05)

    def parked_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for poller in self.pollers:
            counts[poller.source.queue] = counts.get(poller.source.queue, 0) + len(poller.parked)
        return counts

    def release_parked(self) -> int:
        return sum(poller.release_parked() for poller in self.pollers)

    # ---------- time ----------
    def move_clock(self, advance: str | None = None, to: str | None = None) -> dict[str, Any]:
        from nudge.clock import parse_duration

        with self._clock_lock:
            now = self.clock.now()
            if advance is not None:
                target = now + parse_duration(str(advance))
            elif to is not None:
                target = datetime.fromisoformat(str(to))
                if target.tzinfo is None:
                    raise ValueError("set needs a time zone, e.g. 2026-11-23T09:00:00Z")
            else:
                raise ValueError("give 'advance' (e.g. \"7d\") or 'set' (ISO 8601)")
            if target < now:
                raise ValueError("the virtual clock only moves forward")
            self.drain()
            ticks = self._run_ticks(until=int(target.timestamp()))
            self.clock.set(target)
            self.release_parked()
            return {"now": target.isoformat(), "ticks": ticks}

    def _run_ticks(self, until: int) -> int:
        """Fire the schedules while fast-forwarding to `until`, each tick at its own time.

        Ticks are coalesced to at most one per 6 virtual hours (FAST_FORWARD_TICK_S), and a
        scheduler tick that would find nobody due in the due-time index is skipped (its next
        run starts from its own cursor, so nothing is missed). Deferred pushes are released
        at every tick so push_sender looks at them again at the new time.
        """
        fired = 0
        for schedule in self.spec.schedules:
            step = max(schedule.every_seconds, FAST_FORWARD_TICK_S)
            tick = self._last_tick[schedule.function] + step
            while True:
                at = min(tick, until)
                if at <= self._last_tick[schedule.function]:
                    break
                self.clock.set(datetime.fromtimestamp(at, UTC))
                released = self.release_parked()
                since = self._last_fired.get(schedule.function, 0)
                if self._anyone_due(schedule.function, since, at):
                    self._fire(schedule.function, at)
                    self._last_fired[schedule.function] = at
                    fired += 1
                    released = 1
                self._last_tick[schedule.function] = at
                if released:
                    self.drain()
                if at == until:
                    break
                tick += step
        return fired

    def _anyone_due(self, function: str, since: int, until: int) -> bool:
        """For the scheduler only (dev tooling's shortcut): any due-index bucket in range?"""
        if (
            function != "SchedulerFunction"
            or not since
            or "ProfilesTable" not in (self.resolver.physical)
        ):
            return True
        from nudge.domain.config import EngagementConfig

        raw = self.resolver.parameters.get("EngagementConfig") or "{}"
        shards = EngagementConfig.model_validate_json(raw).due_shards
        table = self.resolver.physical["ProfilesTable"]["Ref"]
        for hour in range(since // 3600, until // 3600 + 1):
            for shard in range(shards):
                found = self.ddb.query(
                    TableName=table,
                    IndexName="due-index",
                    KeyConditionExpression="due_bucket = :b",
                    ExpressionAttributeValues={":b": {"S": f"{hour}#{shard}"}},
                    Limit=1,
                )
                if found.get("Items"):
                    return True
        return False

    def _fire(self, function: str, at: int) -> Any:
        event = {
            "version": "0",
            "id": f"local-{at}",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": "123456789012",
            "time": datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:123456789012:rule/{function}-tick"],
            "detail": {},
        }
        try:
            return self.functions[function].invoke(event)
        except Exception:
            log.exception("scheduled %s failed at %s", function, at)
            return None

    def _ticker(self) -> None:
        """Fire schedules as (virtual) time passes on its own."""
        while not self._stop.wait(1.0):
            with self._clock_lock:
                now = int(self.clock.now().timestamp())
                for schedule in self.spec.schedules:
                    due = self._last_tick[schedule.function] + schedule.every_seconds
                    if now >= due:
                        self._fire(schedule.function, now)
                        self._last_tick[schedule.function] = now - now % schedule.every_seconds

    def stats(self) -> dict[str, Any]:
        return {
            "functions": {
                name: {
                    "invocations": sum(e.invocations for e in envs),
                    "errors": sum(e.errors for e in envs),
                }
                for name, envs in self.environments.items()
            },
            "pollers": {
                queue: {
                    "batches": sum(p.batches for p in self.pollers if p.source.queue == queue),
                    "failed_records": sum(
                        p.failed_records for p in self.pollers if p.source.queue == queue
                    ),
                }
                for queue in {p.source.queue for p in self.pollers}
            },
            "buckets": {w.bucket: {"events": w.events, "errors": w.errors} for w in self.watchers},
            "latency_ms_p50": {
                name: round(sorted(s)[len(s) // 2] * 1000, 2)
                for name, s in self.latencies.items()
                if s
            },
        }
