"""Each function in its own process, as each Lambda execution environment is.

The process gets only its own function's environment variables, its own copy of every
module (Powertools keeps per-request state at class level) and the stack's virtual clock
through shared memory. Invocations go over a pipe, one at a time per function.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import threading
import traceback
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

from nudge_local import aws_guard, iam
from nudge_local.functions import LocalContext
from nudge_local.template import FunctionSpec

_CONTEXT = multiprocessing.get_context("spawn")  # a clean interpreter, like a cold start


class SharedOffsetClock:
    """Real time plus an offset kept in shared memory: the stack moves it, workers read it."""

    def __init__(self, offset: Any) -> None:
        self._offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self._offset.value)

    def set(self, when: datetime) -> None:
        with self._offset.get_lock():
            self._offset.value = (when - datetime.now(UTC)).total_seconds()


def new_offset(start: datetime | None) -> Any:
    seconds = (start - datetime.now(UTC)).total_seconds() if start else 0.0
    return _CONTEXT.Value("d", seconds)


def _serve(
    conn: Connection,
    spec: FunctionSpec,
    env: dict[str, str],
    offset: Any,
    role: tuple[iam.Role, iam.TableKeys] | None,
) -> None:
    os.environ.update(env)
    if role is not None:  # every AWS call of this environment is checked against its role
        iam.enforce({spec.logical_id: role[0]}, role[1])
        aws_guard.become(spec.logical_id)
    from nudge import runtime

    runtime.set_clock(SharedOffsetClock(offset))
    module_file, handler_name = spec.handler.rsplit(".", 1)
    loader_spec = importlib.util.spec_from_file_location(
        f"nudge_fn_{spec.code_dir.name}", spec.code_dir / f"{module_file}.py"
    )
    assert loader_spec and loader_spec.loader
    module = importlib.util.module_from_spec(loader_spec)
    loader_spec.loader.exec_module(module)
    handler = getattr(module, handler_name)
    while True:
        try:
            event = conn.recv()
        except EOFError:
            return
        if event is None:
            return
        try:
            result = handler(event, LocalContext(spec.logical_id, spec.memory, spec.timeout))
            conn.send(("ok", result))
        except Exception as error:
            conn.send(("error", f"{type(error).__name__}: {error}", traceback.format_exc()))


class FunctionFailed(RuntimeError):
    """The handler raised: Lambda reports an error for the invocation."""


class WorkerFunction:
    """One warm execution environment (a process) per function."""

    def __init__(
        self,
        spec: FunctionSpec,
        env: dict[str, str],
        offset: Any,
        role: tuple[iam.Role, iam.TableKeys] | None = None,
    ) -> None:
        self.spec = spec
        self.env = env
        self.offset = offset
        self.role = role  # the function's IAM role from the template, enforced in its process
        self._lock = threading.Lock()
        self._process: Any = None
        self._conn: Connection | None = None
        self.invocations = 0
        self.errors = 0

    def start(self) -> None:
        parent, child = _CONTEXT.Pipe()
        self._process = _CONTEXT.Process(
            target=_serve,
            args=(child, self.spec, self.env, self.offset, self.role),
            daemon=True,
            name=f"fn-{self.spec.logical_id}",
        )
        self._process.start()
        self._conn = parent

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:
            if self._process is None or not self._process.is_alive():
                self.start()  # a crashed environment is replaced, as Lambda does
            assert self._conn is not None
            self.invocations += 1
            try:
                self._conn.send(event)
                reply = self._conn.recv()
            except (EOFError, BrokenPipeError, ConnectionResetError) as error:
                self.errors += 1
                self._process = None
                raise FunctionFailed(f"{self.spec.logical_id} environment died: {error}") from error
            if reply[0] == "error":
                self.errors += 1
                raise FunctionFailed(f"{reply[1]}\n{reply[2]}")
            return reply[1]

    def stop(self) -> None:
        if self._process is not None and self._process.is_alive():
            try:
                assert self._conn is not None
                self._conn.send(None)
            except (BrokenPipeError, OSError):
                pass
            self._process.join(timeout=3)
            if self._process.is_alive():
                self._process.kill()
