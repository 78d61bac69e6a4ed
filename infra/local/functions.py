"""Lambda context, and in-process invocation of a handler (moto integration tests).

The local stack runs each function in its own process instead (see workers.py).
"""

from __future__ import annotations

import importlib.util
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from nudge_local import aws_guard
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


# One invocation at a time in the whole process. Handlers loaded in-process share one
# interpreter, and Powertools keeps per-request state at class level (the resolver's current
# event, the metric set); in Lambda, and in the local stack (workers.py), each environment is
# its own process.
_INVOCATION_LOCK = threading.Lock()


class LocalFunction:
    """One warm execution environment per function."""

    def __init__(self, spec: FunctionSpec) -> None:
        self.spec = spec
        self._module: ModuleType | None = None
        self.invocations = 0
        self.errors = 0

    def _load(self) -> ModuleType:
        if self._module is None:
            module_file, _ = self.spec.handler.rsplit(".", 1)
            path = self.spec.code_dir / f"{module_file}.py"
            name = f"nudge_fn_{self.spec.code_dir.name}"
            loader_spec = importlib.util.spec_from_file_location(name, path)
            assert loader_spec and loader_spec.loader
            module = importlib.util.module_from_spec(loader_spec)
            loader_spec.loader.exec_module(module)
            self._module = module
        return self._module

    def invoke(self, event: dict[str, Any]) -> Any:
        # every AWS call in the invocation is checked against this function's IAM role
        with _INVOCATION_LOCK, aws_guard.acting_as(self.spec.logical_id):
            handler = getattr(self._load(), self.spec.handler.rsplit(".", 1)[1])
            context = LocalContext(self.spec.logical_id, self.spec.memory, self.spec.timeout)
            self.invocations += 1
            try:
                return handler(event, context)
            except Exception:
                self.errors += 1
                raise
