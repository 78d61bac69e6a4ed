"""Load the real function handlers and invoke them like Lambda does (one at a time each)."""

from __future__ import annotations

import importlib.util
import queue
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from nudge_local.resources import ACCOUNT, REGION
from nudge_local.template import FunctionSpec


@dataclass
class LocalContext:
    """The LambdaContext attributes Powertools and handlers read."""

    function_name: str
    memory_limit_in_mb: int
    timeout_s: int
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _deadline: float = 0.0

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    """A few warm execution environments per function, as Lambda scales out under load.

    Each environment is its own copy of the handler module and serves one invocation at a
    time, so module-level state behaves as it does in Lambda.
    """

    def __init__(self, spec: FunctionSpec, environments: int = 4) -> None:
        self.spec = spec
        self._idle: queue.SimpleQueue[int] = queue.SimpleQueue()
        for number in range(environments):
            self._idle.put(number)
        self._modules: dict[int, ModuleType] = {}
        self._load_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.invocations = 0
        self.errors = 0

    def _load(self, number: int) -> ModuleType:
        with self._load_lock:
            if number not in self._modules:
                module_file, _ = self.spec.handler.rsplit(".", 1)
                path = self.spec.code_dir / f"{module_file}.py"
                name = f"nudge_fn_{self.spec.code_dir.name}_{number}"
                loader_spec = importlib.util.spec_from_file_location(name, path)
                assert loader_spec and loader_spec.loader
                module = importlib.util.module_from_spec(loader_spec)
                loader_spec.loader.exec_module(module)
                self._modules[number] = module
            return self._modules[number]

    def invoke(self, event: dict[str, Any]) -> Any:
        number = self._idle.get()
        try:
            handler = getattr(self._load(number), self.spec.handler.rsplit(".", 1)[1])
            context = LocalContext(self.spec.logical_id, self.spec.memory, self.spec.timeout)
            with self._count_lock:
                self.invocations += 1
            try:
                return handler(event, context)
            except Exception:
                with self._count_lock:
                    self.errors += 1
                raise
        finally:
            self._idle.put(number)
