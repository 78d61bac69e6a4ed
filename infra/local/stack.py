"""The embedded local stack: moto + gateway + SQS pollers + a virtual clock driving schedules."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3

from nudge_local import iam
from nudge_local.admin_roles import invoking_functions
from nudge_local.auth import (
    LOCAL_AUDIENCE,
    LOCAL_ISSUER,
    AdminCredential,
    generate_private_key_pem,
    public_key_pem,
    write_secret,
)
from nudge_local.fcm_emulator import FcmEmulator
from nudge_local.gateway import start_gateway
from nudge_local.kinesis_source import KinesisPoller, start_kinesis_sources
from nudge_local.resources import (
    REGION,
    Resolver,
    create_resources,
    template_parameters,
    undeployed,
)
from nudge_local.s3_events import S3Watcher
from nudge_local.sqs_events import Activity, SqsPoller
from nudge_local.stack_environments import (
    add_api_callers,
    create_detractor_secret,
    create_fcm_secret,
    fcm_environment,
    function_environments,
)
from nudge_local.stack_processes import (
    end_group,
    launch_moto,
)
from nudge_local.stack_schedule import VirtualSchedule
from nudge_local.template import PROJECT_ROOT, Route, read_stack
from nudge_local.workers import SharedOffsetClock, WorkerFunction, new_offset

log = logging.getLogger("devstack")
DEFAULT_STATE_DIR = PROJECT_ROOT / ".nudge"
CONSOLE_CLIENT_ID = "nudge-local-console"  # the ConsoleClientId parameter, unless overridden
POLLERS_PER_SOURCE = 2  # Lambda runs several batches of one queue at once, each in its own
# environment (a process here): one waits on AWS while the other computes


class LocalStack(VirtualSchedule):
    def __init__(
        self,
        state_dir: Path = DEFAULT_STATE_DIR,
        host: str = "127.0.0.1",
        port: int = 0,
        start: datetime | None = None,
        retry_delay_s: float = 1.0,
        parameters: dict[str, Any] | None = None,
        faults: dict[str, Any] | None = None,
    ) -> None:
        self.state_dir = state_dir
        # faults injected on purpose (nudge_local.faults): AWS calls in every function's
        # environment, plus {"fcm": {"rate", "errors", "seed"}} for the FCM emulator; else
        # the plan in NUDGE_LOCAL_FAULTS (how `nudge local up --faults FILE` passes it on)
        self.fault_plan = faults or json.loads(os.environ.get("NUDGE_LOCAL_FAULTS") or "null")
        self.host = host
        self.port = port  # 0: the gateway binds a free one (and keeps it)
        self.clock = SharedOffsetClock(new_offset(start))
        self.retry_delay_s = retry_delay_s
        self.parameter_overrides = parameters or {}
        self.spec = read_stack()
        self.functions: dict[str, WorkerFunction] = {}  # the first of each one's environments
        self.environments: dict[str, list[WorkerFunction]] = {}
        self.pollers: list[SqsPoller] = []
        self.wakeups: dict[str, Activity] = defaultdict(Activity)  # per queue
        self.watchers: list[S3Watcher] = []
        self.streams: list[KinesisPoller] = []  # Kinesis event sources, one per shard
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self._stop = threading.Event()
        self._clock_lock = threading.RLock()
        self._last_tick: dict[str, int] = {}
        self._last_fired: dict[str, int] = {}
        self.admin_credential = AdminCredential("AKIANUDGELOCALADMIN", os.urandom(20).hex(), REGION)
        self.jwt_issuer = LOCAL_ISSUER
        self.jwt_audiences = [LOCAL_AUDIENCE]
        self._threads: list[threading.Thread] = []  # the gateway's and the scheduler's
        self._stopped = False

    # ---------- lifecycle ----------
    def start(self) -> dict[str, Any]:
        """Start everything; if any part fails, whatever did start is stopped (moto's group,
        the functions' processes, threads) before the error goes on."""
        try:
            return self._start()
        except BaseException:
            log.error("local stack failed to start; stopping what did start")
            self.stop()
            raise

    def _start(self) -> dict[str, Any]:
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
        self.fcm = FcmEmulator(self.host, 0, self.state_dir)
        self.fcm.start()
        secrets = session.client("secretsmanager", endpoint_url=self.moto_url)

        parameters = template_parameters(
            self.spec,
            {
                "JwtIssuer": self.jwt_issuer,
                "JwtAudience": ",".join(self.jwt_audiences),
                "FcmCredentialsSecretArn": create_fcm_secret(secrets, self.fcm),
                "DetractorWebhookSecretArn": create_detractor_secret(secrets),
                "ConsoleClientId": CONSOLE_CLIENT_ID,  # the dev OIDC provider's client
                **self.parameter_overrides,
            },
        )
        self.resolver = Resolver(parameters)
        for name in undeployed(self.spec, self.resolver):  # e.g. no Kinesis stream given
            self.spec.functions.pop(name, None)
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
        if self.fault_plan:
            from nudge_local import faults

            plan = {**self.fault_plan, "counts_dir": str(self.state_dir / "faults")}
            faults.Plan.parse(plan)  # a bad plan stops the start, not every function's call
            base_env[faults.ENV] = json.dumps(plan)
            if plan.get("fcm"):
                self.fcm.configure(plan["fcm"])
        private_pem = generate_private_key_pem()
        self.jwt_private_key_path = self.state_dir / "jwt-private.pem"
        write_secret(self.jwt_private_key_path, private_pem)
        self.jwt_public_pem = public_key_pem(private_pem)
        # bound now (served later): the console's environment needs the gateway's address
        self.gateway = start_gateway(self, self.host, self.port)  # bound (and kept) here
        self.port = self.gateway.server_address[1]

        environments = function_environments(
            self.spec, self.resolver, base_env, fcm_environment(self.fcm)
        )
        fed_by_sqs = {source.function for source in self.spec.sqs_sources}
        # each function's IAM role from the template, enforced in its own processes
        roles = self.function_roles = iam.stack_roles(self.spec, self.resolver)
        add_api_callers(
            environments,
            sorted(invoking_functions(roles)),
            self.admin_credential,
            f"http://{self.host}:{self.port}",
        )
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
        failures: list[BaseException] = []

        def start_environment(function: WorkerFunction) -> None:
            try:
                function.start()
            except BaseException as error:
                failures.append(error)

        starters = [
            threading.Thread(target=start_environment, args=(f,)) for f in self._all_environments()
        ]
        for starter in starters:
            starter.start()
        for starter in starters:
            starter.join()
        if failures:
            raise failures[0]

        self._spawn(self.gateway.serve_forever, "gateway")
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
        self.streams = start_kinesis_sources(
            self.spec,
            self.resolver,
            (session.client("kinesis", endpoint_url=self.moto_url), self.sqs),
            self.functions,
            roles,
            self.retry_delay_s,
            self._stop,
        )
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
        self._spawn(self._ticker, "scheduler")
        return self.write_state()

    def _spawn(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _start_moto(self) -> str:
        """moto server in its own process: AWS emulation gets a core of its own. It leads its
        own process group: granian serves from a worker process that must go with it."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with (self.state_dir / "moto.log").open("ab") as log:
            try:
                self.moto, url = launch_moto(self.host, log)
            except RuntimeError as error:
                raise RuntimeError(f"{error}; see {self.state_dir / 'moto.log'}") from None
        return url

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
        """Stop whatever of the stack started, and return once its processes are gone: the
        gateway first (no new requests), moto's group (SIGTERM, SIGKILL after 5 s; calls in
        flight fail at once), the pollers' and scheduler's threads, every function's
        environment (asked to leave, killed after 3 s), the FCM emulator. Once only."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        gateway = getattr(self, "gateway", None)
        if gateway is not None:
            if any(t.name == "gateway" for t in self._threads):
                gateway.shutdown()  # only a loop that runs can be shut down
            gateway.server_close()
        moto = getattr(self, "moto", None)
        if moto is not None:
            end_group(moto.pid, 5.0, moto)
        deadline = time.monotonic() + 5
        for thread in [*self.pollers, *self.watchers, *self.streams, *self._threads]:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
        environments = self._all_environments()
        stoppers = [threading.Thread(target=f.stop, daemon=True) for f in environments]
        for stopper in stoppers:  # at once: each may wait 3 s for a busy environment
            stopper.start()
        for stopper in stoppers:
            stopper.join(timeout=10)
        for function in environments:  # killed ones too: reaped, and surely gone
            process = getattr(function, "_process", None)
            if process is not None and process.pid is not None:
                process.join(timeout=1)
                if process.is_alive():
                    process.kill()
                    process.join(timeout=5)
        fcm = getattr(self, "fcm", None)
        if fcm is not None:
            fcm.stop()

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
                settled = settled and all(stream.settled() for stream in self.streams)
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
