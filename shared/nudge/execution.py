"""Where this code runs: a real Lambda execution environment or not (ground floor: settings and
the models' webhook rules both ask, and must get the same answer)."""

from __future__ import annotations

import os
from collections.abc import Mapping


def running_in_lambda(environ: Mapping[str, str] = os.environ) -> bool:
    """A real Lambda execution environment. Its runtime sets both variables; the local stack's
    workers, the CLI and tests set neither. Either one is enough, to fail closed: whatever is
    honoured only outside Lambda stays off wherever it might be Lambda."""
    return environ.get("AWS_EXECUTION_ENV", "").startswith("AWS_Lambda_") or bool(
        environ.get("AWS_LAMBDA_FUNCTION_NAME")
    )
