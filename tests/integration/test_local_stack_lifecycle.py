"""The local stack never flakes: its servers bind what they serve (port 0, kept), a failed
start leaves no process behind, fast-forwarding keeps the scheduler tick's other work
(auto-pause, the weekly sunset digest), and the gateway answers any method as API Gateway."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from nudge.clock import ManualClock
from nudge_local import process, stack_processes
from nudge_local import stack as stack_module
from nudge_local.fcm_emulator import FcmEmulator
from nudge_local.gateway import start_gateway
from nudge_local.stack import LocalStack
from nudge_local.stack_processes import end_group, group_members, launch_moto
from nudge_local.template import Schedule, read_stack
from nudge_local.webhook import WebhookReceiver
from tests.unit.test_sunset_digest import FlakyAlerts, digest

HOST = "127.0.0.1"
MONDAY = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def alive(pid: int) -> bool:
    """Running (a zombie has exited: only its exit status is left to collect)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


class _RoutesOnly:
    """What the gateway needs of a stack to route (no functions: nothing matches to call)."""

    spec = read_stack()
    match_route = LocalStack.match_route


@pytest.fixture
def serve_gateway() -> Iterator[Callable[[], Any]]:
    servers: list[Any] = []

    def start() -> Any:
        server = start_gateway(_RoutesOnly(), HOST, 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# ---------- ports ----------
def test_servers_started_at_once_each_serve_a_port_of_their_own(
    tmp_path: Path, serve_gateway: Callable[[], Any]
) -> None:
    """Two stacks' worth of servers (moto, gateway, FCM emulator, webhook), started at once:
    each port is bound by the server that serves it, so none is ever handed to two."""
    started: dict[str, Any] = {}
    errors: list[BaseException] = []

    def run(name: str, start: Callable[[], Any]) -> None:
        try:
            started[name] = start()
        except BaseException as error:
            errors.append(error)

    starts: dict[str, Callable[[], Any]] = {}
    for n in (1, 2):
        starts[f"moto{n}"] = lambda: launch_moto(HOST, subprocess.DEVNULL)
        starts[f"gateway{n}"] = serve_gateway
        (tmp_path / f"fcm{n}").mkdir()
        starts[f"fcm{n}"] = lambda n=n: FcmEmulator(HOST, 0, tmp_path / f"fcm{n}")  # type: ignore[misc]
        starts[f"webhook{n}"] = lambda: WebhookReceiver().__enter__()
    threads = [threading.Thread(target=run, args=item) for item in starts.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    try:
        assert not errors, errors
        urls = {
            **{f"moto{n}": started[f"moto{n}"][1] for n in (1, 2)},
            **{
                f"gateway{n}": f"http://{HOST}:{started[f'gateway{n}'].server_address[1]}"
                for n in (1, 2)
            },
            **{f"fcm{n}": started[f"fcm{n}"].url for n in (1, 2)},
            **{f"webhook{n}": started[f"webhook{n}"].url for n in (1, 2)},
        }
        ports = {name: int(url.rsplit(":", 1)[1].split("/")[0]) for name, url in urls.items()}
        assert len(set(ports.values())) == len(ports), ports
        for n in (1, 2):  # and each answers on its own port, as itself
            assert requests.get(urls[f"moto{n}"], timeout=10).ok
            health = requests.get(f"{urls[f'gateway{n}']}/_local/health", timeout=10)
            assert health.json() == {"ok": True}
            fcm = started[f"fcm{n}"]
            fcm.start()
            token = requests.post(f"{fcm.url}/token", verify=str(fcm.ca_path), timeout=10)
            assert token.json()["access_token"] == "local"
            assert requests.post(urls[f"webhook{n}"], json={"n": n}, timeout=10).ok
            assert started[f"webhook{n}"].delivered == [{"n": n}]
    finally:
        for n in (1, 2):
            if f"moto{n}" in started:
                process, _ = started[f"moto{n}"]
                assert end_group(process.pid, 5.0, process)
            if f"fcm{n}" in started:
                started[f"fcm{n}"].stop()
            if f"webhook{n}" in started:
                started[f"webhook{n}"].__exit__(None, None, None)


def test_no_port_is_picked_and_released_for_later() -> None:
    """What made `make up` fail with "Address already in use": a number from a socket bound
    and closed, bound again later (by then maybe someone else's)."""
    assert not hasattr(stack_module, "free_port")


def test_a_port_someone_holds_is_refused_at_once(serve_gateway: Callable[[], Any]) -> None:
    taken = serve_gateway().server_address[1]
    with pytest.raises(OSError, match="in use"):
        start_gateway(_RoutesOnly(), HOST, taken)


# ---------- a failed start ----------
@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """LocalStack.start sets the AWS variables of the process: restored after the test."""
    for key in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, os.environ.get(key, "testing"))
    for key in ("AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.setenv(key, os.environ.get(key, "us-east-1"))


@pytest.mark.usefixtures("isolated_env")
@pytest.mark.parametrize("step", ["create_resources", "start_gateway", "start_kinesis_sources"])
def test_a_failed_start_leaves_no_process_behind(
    step: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto up, then the resources fail; or the gateway can't bind (before any function's
    environment, which needs its address); or moto, the FCM emulator, the gateway, every
    function's environment and the SQS pollers up, then the Kinesis sources fail: the error
    comes out, and nothing is left."""

    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{step} failed (injected)")

    monkeypatch.setattr(stack_module, step, fail)
    threads_before = set(threading.enumerate())
    stack = LocalStack(state_dir=tmp_path)
    with pytest.raises(RuntimeError, match="injected"):
        stack.start()
    moto_pid = stack.moto.pid
    assert not group_members(moto_pid) and not alive(moto_pid)  # granian's worker too
    workers = [e._process.pid for e in stack._all_environments() if e._process is not None]
    if step == "start_kinesis_sources":
        assert len(workers) >= len(stack.spec.functions)
    assert not [pid for pid in workers if alive(pid)]
    assert set(threading.enumerate()) <= threads_before  # the FCM emulator's loop too


@pytest.mark.usefixtures("isolated_env")
def test_moto_that_never_comes_up_fails_the_start_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stack_processes.sys, "executable", "/bin/false")
    stack = LocalStack(state_dir=tmp_path)
    with pytest.raises(RuntimeError, match="moto server exited"):
        stack.start()
    assert not hasattr(stack, "moto") and not hasattr(stack, "fcm")


def test_down_returns_once_every_process_of_the_stack_is_gone(tmp_path: Path) -> None:
    """`make down` (and the demo's end): the stack's own process and its group (the
    functions' environments) and moto's group (granian's server and worker)."""
    state = process.up(tmp_path)
    pid, moto_pid = int(state["pid"]), int(state["moto_pid"])
    try:
        members = group_members(pid) + group_members(moto_pid)
        assert pid in members and moto_pid in members and len(members) > 3
    finally:
        assert process.down(tmp_path)
    assert not group_members(pid) and not group_members(moto_pid)
    assert not [member for member in members if alive(member)]
    assert not (tmp_path / "local.json").exists()


# ---------- fast-forwarding ----------
class _Counter:
    def __init__(self) -> None:
        self.invocations = 0


def ticking_stack(fire: Callable[[int], None], anyone_due: bool = False) -> LocalStack:
    """A stack's clock and schedule only: a scheduler tick last fired at MONDAY 00:00."""
    stack = LocalStack.__new__(LocalStack)
    stack.spec = SimpleNamespace(schedules=[Schedule("SchedulerFunction", "rate(15 minutes)")])
    stack.clock = SimpleNamespace(set=lambda when: None)
    stack.environments = {"SchedulerFunction": [_Counter()], "EventsFunction": [_Counter()]}
    start = int(MONDAY.timestamp())
    stack._last_tick = {"SchedulerFunction": start}
    stack._last_fired = {"SchedulerFunction": start}
    stack.release_parked = lambda: 0
    stack.drain = lambda timeout_s=60.0: {}
    stack._anyone_due = lambda function, since, until: anyone_due
    stack._fire = lambda function, at: fire(at)
    return stack


def test_fast_forwarding_a_week_with_nobody_due_still_sends_the_weekly_digest() -> None:
    clock = ManualClock(MONDAY)
    alerts = FlakyAlerts()
    service, _ = digest(clock, alerts)
    assert service.run() is not None  # the week's first tick, before the fast-forward
    fired: list[datetime] = []

    def tick(at: int) -> None:  # what the scheduler's tick does besides the due users
        clock.set(datetime.fromtimestamp(at, UTC))
        fired.append(clock.now())
        service.run()

    stack = ticking_stack(tick)
    stack._run_ticks(until=int((MONDAY + timedelta(days=8)).timestamp()))
    assert [message["week"] for _, message in alerts.sent] == ["2026-W10", "2026-W11"]
    # and auto-pause, whose window is in days, runs at least once every virtual day
    assert sorted({at.date() for at in fired}) == [
        (MONDAY + timedelta(days=d)).date() for d in range(1, 9)
    ]
    assert len(fired) == 8  # the ticks with nothing to do were skipped all the same


def test_a_tick_is_skipped_within_a_day_when_nobody_is_due_whatever_else_ran() -> None:
    """Auto-pause and the digest are judged once per virtual day at least; other activity
    (the demo's users, every hour) doesn't make every 6-hour tick fire."""
    fired: list[int] = []
    stack = ticking_stack(fired.append)
    start = int(MONDAY.timestamp())
    stack.environments["EventsFunction"][0].invocations += 1
    stack._run_ticks(until=start + 18 * 3600)
    assert fired == []  # the same day, nobody due
    stack._run_ticks(until=start + 30 * 3600)
    assert fired == [start + 24 * 3600]  # the next day's first tick


def test_a_tick_with_someone_due_fires() -> None:
    fired: list[int] = []
    stack = ticking_stack(fired.append, anyone_due=True)
    start = int(MONDAY.timestamp())
    stack._run_ticks(until=start + 12 * 3600)
    assert fired == [start + 6 * 3600, start + 12 * 3600]


# ---------- gateway: any method ----------
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "CONNECT"]


UNDECLARED = [
    (method, path)
    for method in [*METHODS, "PROPFIND", "BREW", "M-SEARCH"]
    for path in ("/v1/nope", "/v1/events", "/")
    if (method, path) != ("POST", "/v1/events")  # the one declared route among them
]


@pytest.mark.parametrize(("method", "path"), UNDECLARED)
def test_undeclared_routes_and_methods_are_a_json_404(
    method: str, path: str, serve_gateway: Callable[[], Any]
) -> None:
    port = serve_gateway().server_address[1]
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    assert response.status == 404
    assert response.getheader("content-type") == "application/json"
    if method == "HEAD":
        assert body == b"" and int(response.getheader("content-length") or 0) > 0
    else:
        assert json.loads(body) == {"message": "Not Found"}


def test_http_servers_own_refusals_are_json_too(serve_gateway: Callable[[], Any]) -> None:
    port = serve_gateway().server_address[1]
    import socket

    with socket.create_connection((HOST, port), timeout=10) as sock:
        sock.sendall(b"GET /v1/nope HTTP/1.1\r\nX-Big: " + b"x" * 70_000 + b"\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"431" and b"application/json" in head.lower()
    assert json.loads(body) == {"message": "Line too long"}
