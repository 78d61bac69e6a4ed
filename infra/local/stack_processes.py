"""Process groups of the local stack: moto's server on a socket bound for it, and stopping
every process a group started (granian's worker, function environments) before returning."""

from __future__ import annotations

import contextlib
import http.client
import logging
import os
import signal
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


def listening_ports(pgid: int) -> list[int]:
    """TCP ports a process group listens on, read from /proc (the kernel's own record)."""
    inodes = set()
    for pid in {pgid, *group_members(pgid)}:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if link.startswith("socket:["):
                        inodes.add(link[8:-1])
    ports = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                    ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def launch_moto(host: str, output: Any) -> tuple[subprocess.Popen[bytes], str]:
    """moto's server (nudge_local.moto_server) in a process group of its own, on port 0: the
    kernel's pick is held by granian from the moment it binds, so no other server (another
    stack's, the gateway) can be given the same port; which one it got is read from /proc.
    Returns it and its URL once it answers HTTP; if it never does, it is stopped first."""
    process = subprocess.Popen(
        [sys.executable, "-m", "nudge_local.moto_server", host, "0"],
        stdout=output,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # granian serves from a worker that must go with it
    )
    try:
        deadline = time.monotonic() + 30
        port = 0
        while not port:
            if process.poll() is not None:
                raise RuntimeError(f"moto server exited with {process.returncode}")
            if time.monotonic() >= deadline:
                raise RuntimeError("moto server did not start within 30s")
            port = next(iter(listening_ports(process.pid)), 0)
            if not port:
                time.sleep(0.05)
    except BaseException:
        end_group(process.pid, 1.0, process)
        raise
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
