"""Run the stack in the foreground (`serve`), or start/stop it in the background (`up`/`down`)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import requests

from nudge_local.stack import DEFAULT_STATE_DIR, LocalStack, stop_group

START_TIMEOUT_S = 90


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
    state = stack.start()
    logging.getLogger("devstack").info("local stack up at %s", state["api_url"])
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    stopped.wait()
    (state_dir / "local.json").unlink(missing_ok=True)
    # Servers with idle keep-alive connections can take a while to stop: give them a moment,
    # then leave (everything lives in memory; there is nothing to flush).
    closer = threading.Thread(target=stack.stop, daemon=True)
    closer.start()
    closer.join(timeout=3)
    stop_group(stack.moto.pid, signal.SIGKILL)  # moto's server and its worker, if still there
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
            raise RuntimeError(f"local stack exited early; see {log_path}")
        state = running_state(state_dir)
        if state and state.get("pid") == process.pid:
            try:
                if requests.get(f"{state['api_url']}/_local/health", timeout=2).ok:
                    return state
            except requests.RequestException:
                pass
        time.sleep(0.1)
    process.terminate()
    raise RuntimeError(f"local stack did not start within {START_TIMEOUT_S}s; see {log_path}")


def down(state_dir: Path = DEFAULT_STATE_DIR) -> bool:
    state = running_state(state_dir)
    if not state:
        return False
    pid = int(state["pid"])  # type: ignore[call-overload]
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):  # and everything it started: functions (its group), moto (a group of its own)
        stop_group(pid, signal.SIGKILL)
        if "moto_pid" in state:
            stop_group(int(state["moto_pid"]), signal.SIGKILL)  # type: ignore[call-overload]
    (state_dir / "local.json").unlink(missing_ok=True)
    return True
