"""The message-template engine (Jinja's sandbox): the ground floor, below models."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


class TemplateError(ValueError):
    """A template that cannot be compiled or rendered; the message names the field."""


def _no_none(value: Any) -> Any:
    if value is None:
        raise TemplateError("a value is None (give a default with `| default('...')`)")
    return value


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class PushSandbox(ImmutableSandboxedEnvironment):
        """No `*` or `**`: `'a' * 10**9` would be folded at compile time, eating memory."""

        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator in self.intercepted_binops:
                raise TemplateError(f"the {operator!r} operator is not allowed in templates")
            return super().call_binop(context, operator, left, right)

    return PushSandbox(undefined=StrictUndefined, autoescape=False, finalize=_no_none)


@lru_cache(maxsize=2048)
def compile_template(source: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return _environment().from_string(source)
    except TemplateSyntaxError as error:
        raise TemplateError(f"template syntax: {error.message} (line {error.lineno})") from error
    except TemplateError:
        raise
