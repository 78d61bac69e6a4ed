"""Process groups of the local stack: moto's server on a socket bound for it, and stopping
every process a group started (granian's worker, function environments) before returning."""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

log = logging.getLogger("devstack")


def stop_group(leader: int, how: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader, how)


def group_members(pgid: int) -> list[int]:
    """The live processes (zombies aside) of a process group: from /proc on Linux, else
    whether signal 0 reaches the group at all."""
    if not os.path.isdir("/proc/self"):
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return []
        except PermissionError:
            pass
        return [pgid]
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(os.path.join(entry.path, "stat")) as stat:
                fields = stat.read().rpartition(")")[2].split()  # state ppid pgrp ...
        except OSError:
            continue  # gone meanwhile
        if len(fields) > 2 and int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def wait_group(pgid: int, timeout_s: float, reap: subprocess.Popen[bytes] | None = None) -> bool:
    """Wait until no process of the group is left (reaping `reap`, our child, on the way)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if reap is not None:
            reap.poll()
        if not group_members(pgid):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


def end_group(pgid: int, grace_s: float = 5.0, reap: subprocess.Popen[bytes] | None = None) -> bool:
    """SIGTERM a process group, SIGKILL whatever is left of it after `grace_s`, and return
    once it is gone (False if something outlived even SIGKILL for 5 s)."""
    stop_group(pgid, signal.SIGTERM)
    if wait_group(pgid, grace_s, reap):
        return True
    stop_group(pgid, signal.SIGKILL)
    return wait_group(pgid, 5.0, reap)


def launch_moto(host: str, output: Any) -> tuple[subprocess.Popen[bytes], str]:
    """moto's server (nudge_local.moto_server) in a process group of its own, serving a socket
    bound here, on port 0, and passed down: the kernel's pick is held from the start, so no
    other server (another stack's, the gateway) can be given the same port. Returns it and
    its URL once it answers HTTP; if it never does, it is stopped before the error."""
    listener = socket.create_server((host, 0), backlog=1024)
    port = listener.getsockname()[1]
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "nudge_local.moto_server", "--fd", str(listener.fileno())],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # granian serves from a worker that must go with it
            pass_fds=(listener.fileno(),),
        )
    finally:
        listener.close()  # moto holds its own copy: if it dies, connecting fails at once
    url = f"http://{host}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"moto server exited with {process.returncode}")
            # the socket accepts connections before granian serves them: ask for an answer
            connection = http.client.HTTPConnection(host, port, timeout=1)
            try:
                connection.request("GET", "/")
                connection.getresponse().read()
                return process, url
            except OSError:
                if time.monotonic() >= deadline:
                    raise RuntimeError("moto server did not start within 30s") from None
                time.sleep(0.05)
            finally:
                connection.close()
    except BaseException:
        end_group(process.pid, 1.0, process)
        raise
