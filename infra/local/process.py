"""Run the stack in the foreground (`serve`), or start/stop it in the background (`up`/`down`)."""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import requests

from nudge_local.stack import DEFAULT_STATE_DIR, LocalStack
from nudge_local.stack_processes import end_group, group_members, stop_group

START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 10  # for the stack to stop by itself; then its process groups get SIGKILL


class _Interrupted(BaseException):
    """SIGTERM or SIGINT while the stack starts: the start stops what it started."""


def serve(
    state_dir: Path,
    port: int = 0,
    start: str | None = None,
    parameters: dict[str, str] | None = None,
) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    stack = LocalStack(
        state_dir=state_dir,
        port=port,
        start=datetime.fromisoformat(start) if start else None,
        parameters=parameters,
    )

    def interrupt(*_: object) -> None:
        raise _Interrupted

    # stopped while starting (`up` gave up on it): the start stops what it started, then exit
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGINT, interrupt)
    stopped = threading.Event()
    try:
        state = stack.start()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
    except _Interrupted:
        stack.stop()  # if it had started all the same
        logging.shutdown()
        os._exit(1)
    logging.getLogger("devstack").info("local stack up at %s", state["api_url"])
    stopped.wait()
    (state_dir / "local.json").unlink(missing_ok=True)
    # Everything lives in memory (nothing to flush), but the stack's processes are stopped
    # and waited for: moto's group, the functions' environments (bounded, then killed).
    closer = threading.Thread(target=stack.stop, daemon=True)
    closer.start()
    closer.join(timeout=STOP_TIMEOUT_S - 2)
    stop_group(stack.moto.pid, signal.SIGKILL)  # moto's server and its worker, if still there
    for child in multiprocessing.active_children():  # environments still there, if any
        child.kill()
        child.join(timeout=1)
    logging.shutdown()
    os._exit(0)


def _alive(pid: int) -> bool:
    try:  # reap it if we started it (tests do), or an exited child would look alive
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def _running(pid: int) -> bool:
    """Alive, and not a zombie (exited, its status not yet collected by its parent)."""
    if not _alive(pid):
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except OSError:
        return not os.path.isdir("/proc/self")  # without /proc, as signal 0 says


def running_state(state_dir: Path) -> dict[str, object] | None:
    path = state_dir / "local.json"
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if not _alive(int(state["pid"])):
        path.unlink(missing_ok=True)
        return None
    return state


def up(
    state_dir: Path = DEFAULT_STATE_DIR,
    port: int = 0,
    start: str | None = None,
    parameters: dict[str, str] | None = None,
) -> dict[str, object]:
    existing = running_state(state_dir)
    if existing:
        return existing
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / "local.log"
    command = [sys.executable, "-m", "nudge_local", "serve", "--state-dir", str(state_dir)]
    if port:
        command += ["--port", str(port)]
    if start:
        command += ["--start", start]
    for name, value in (parameters or {}).items():
        command += ["--parameter", f"{name}={value}"]
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stop_group(process.pid, signal.SIGKILL)  # anything it left (it stops what it starts)
            raise RuntimeError(f"local stack exited early; see {log_path}")
        state = running_state(state_dir)
        if state and state.get("pid") == process.pid:
            try:
                if requests.get(f"{state['api_url']}/_local/health", timeout=2).ok:
                    return state
            except requests.RequestException:
                pass
        time.sleep(0.1)
    process.terminate()  # it stops whatever it started, then exits
    end_group(process.pid, STOP_TIMEOUT_S, process)
    raise RuntimeError(f"local stack did not start within {START_TIMEOUT_S}s; see {log_path}")


def down(state_dir: Path = DEFAULT_STATE_DIR) -> bool:
    """Stop the background stack; return once its processes are gone: the stack's own (it
    leads their group: the functions' environments) and moto's group (granian's server and
    worker). They get STOP_TIMEOUT_S to stop by themselves, then SIGKILL."""
    state = running_state(state_dir)
    if not state:
        return False
    pid = int(state["pid"])  # type: ignore[call-overload]
    groups = [pid]
    if "moto_pid" in state:
        groups.append(int(state["moto_pid"]))  # type: ignore[call-overload]
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)

    def gone() -> bool:
        return not _running(pid) and not any(group_members(group) for group in groups)

    deadline = time.monotonic() + STOP_TIMEOUT_S
    while not gone() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not gone():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # (`serve` run by hand leads no group of its own)
        for group in groups:
            stop_group(group, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while not gone() and time.monotonic() < deadline:
            time.sleep(0.05)
    (state_dir / "local.json").unlink(missing_ok=True)
    return True
