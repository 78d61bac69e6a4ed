"""What AWS would do to a function's calls, applied to every boto3 client in the process.

Two botocore hooks, registered in `botocore.handlers.BUILTIN_HANDLERS` so that every session
and client created afterwards carries them (the way moto's own mock installs itself):

- `before-parameter-build`: the call is checked against the calling function's IAM policies
  as written in template.yaml (`nudge_local.iam`); a denied call raises the error boto3 would
  get from AWS (AccessDeniedException, AccessDenied, AuthorizationError). Calls made while no
  function is active (test set-up, the CLI, the stack itself) are the operator's and pass.
- `before-send`: faults injected on purpose (`nudge_local.faults`), answered as AWS's HTTP
  error responses so botocore's own retry logic sees them exactly as it would in AWS.

A function's identity is set per process in the local stack (one environment per process)
and per invocation when handlers run in the test process (one invocation at a time).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

_state: dict[str, Any] = {"principal": None, "installed": False}


def current_principal() -> str | None:
    """The logical id of the function whose code is running now, if any."""
    return _state["principal"]


@contextlib.contextmanager
def acting_as(function_id: str | None) -> Iterator[None]:
    """Run the block with `function_id`'s IAM policies (None: the operator, unchecked)."""
    previous = _state["principal"]
    _state["principal"] = function_id
    try:
        yield
    finally:
        _state["principal"] = previous


def become(function_id: str | None) -> None:
    """For a process that is one function's environment for its whole life."""
    _state["principal"] = function_id


def install() -> None:
    """Register the hooks for every botocore session, existing or future (idempotent)."""
    if _state["installed"]:
        return
    import botocore.handlers

    from nudge_local import faults, iam

    hooks = [("before-parameter-build", iam.check_call), ("before-send", faults.maybe_fail)]
    # first in line: the first answer of `before-send` is the one botocore uses
    botocore.handlers.BUILTIN_HANDLERS[:0] = hooks
    _skip_faulted_in_moto_mock(botocore.handlers.BUILTIN_HANDLERS)
    # Sessions created before install() (boto3's default one) get them too.
    import boto3

    if boto3.DEFAULT_SESSION is not None:
        events = boto3.DEFAULT_SESSION._session.get_component("event_emitter")
        for event, handler in hooks:
            events.register_first(event, handler)
    _state["installed"] = True


def _skip_faulted_in_moto_mock(handlers: list[Any]) -> None:
    """botocore runs every `before-send` handler, not just until one answers: under moto's
    in-process mock (the integration tests) a request failed on purpose would still be
    applied by moto. Its stubber is wrapped to leave those requests alone."""
    import sys

    models = sys.modules.get("moto.core.models")
    stubber = getattr(models, "botocore_stubber", None)
    if stubber is None:
        return

    def unless_faulted(event_name: str = "", request: Any = None, **kwargs: Any) -> Any:
        if getattr(request, "nudge_fault", False):
            return None
        return stubber(event_name=event_name, request=request, **kwargs)

    for index, (event, handler, *rest) in enumerate(handlers):
        if event == "before-send" and handler is stubber:
            handlers[index] = (event, unless_faulted, *rest)
