"""The message-template engine (Jinja's sandbox): the ground floor, below models.

Message templates only need to fill in values, so a template is checked against an allow-list
of Jinja constructs when it is compiled (variables, attribute and item access, `if`, `~`,
`+ - / //`, comparisons, `and/or/not`, a few tests and a few filters with bounded arguments).
Anything else (calls such as `'a'.ljust(300000000)`, loops, macros, `set`, `%`, `*`, filters
such as `format`) is refused with the template line and the construct, so a template is
rejected where it is validated and uploaded, never first found at send time. Rendering stops
at RENDERED_TEXT_LIMIT characters, which protects the sender from a template stored before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

FCM_PAYLOAD_LIMIT = 4096  # bytes of the message FCM delivers to the device
# One rendered field can never be longer than the whole payload (UTF-8: chars <= bytes), so
# stopping here refuses nothing FCM could have delivered.
RENDERED_TEXT_LIMIT = FCM_PAYLOAD_LIMIT


class TemplateError(ValueError):
    """A template that cannot be compiled or rendered; the message names the field."""


def _no_none(value: Any) -> Any:
    if value is None:
        raise TemplateError("a value is None (give a default with `| default('...')`)")
    return value


# --- the allow-list -------------------------------------------------------------------------

ArgCheck = Callable[[Any], str | None]  # a filter argument's node -> what is wrong, or None


def _whole_number(low: int, high: int) -> ArgCheck:
    def check(node: Any) -> str | None:
        from jinja2 import nodes

        value = node.value if isinstance(node, nodes.Const) else None
        if type(value) is int and low <= value <= high:
            return None
        return f"must be a whole number from {low} to {high} written in the template"

    return check


def _one_of(*choices: str) -> ArgCheck:
    def check(node: Any) -> str | None:
        from jinja2 import nodes

        if isinstance(node, nodes.Const) and node.value in choices:
            return None
        return f"must be one of {', '.join(repr(c) for c in choices)}"

    return check


def _any_expression(node: Any) -> str | None:
    return None  # still walked like any other expression


# filter -> its parameters in order (after the value), each with the check of its argument
ALLOWED_FILTERS: Mapping[str, Mapping[str, ArgCheck]] = {
    "default": {"default_value": _any_expression, "boolean": _any_expression},
    "upper": {},
    "lower": {},
    "title": {},
    "capitalize": {},
    "trim": {},
    "string": {},
    "urlencode": {},
    "int": {"default": _any_expression},
    # round(precision, 'ceil') computes 10 ** precision: kept small
    "round": {"precision": _whole_number(0, 10), "method": _one_of("common", "ceil", "floor")},
    "truncate": {
        "length": _whole_number(1, RENDERED_TEXT_LIMIT),
        "killwords": _any_expression,
        "end": _any_expression,
        "leeway": _whole_number(0, RENDERED_TEXT_LIMIT),
    },
}
ALLOWED_TESTS = frozenset({"defined", "undefined", "none", "number", "string"})
# Expression and statement nodes whose evaluation cannot grow beyond the template and its data
_ALLOWED_NODES = frozenset(
    {
        *("Template", "Output", "TemplateData", "If", "CondExpr", "Const"),
        *("Name", "Getattr", "Getitem", "Slice", "Filter", "Test", "Keyword"),
        *("Compare", "Operand", "And", "Or", "Not"),
        *("Concat", "Add", "Sub", "Div", "FloorDiv", "Neg", "Pos"),
    }
)
_REFUSED = {
    "Call": "calling functions or methods",
    "For": "{% for %} loops",
    "Macro": "{% macro %}",
    "CallBlock": "{% call %}",
    "FilterBlock": "{% filter %} blocks",
    "Assign": "{% set %}",
    "AssignBlock": "{% set %}",
    "With": "{% with %}",
    "Include": "{% include %}",
    "Import": "{% import %}",
    "FromImport": "{% from ... import %}",
    "Extends": "{% extends %}",
    "Block": "{% block %}",
    "Mul": "the '*' operator",
    "Pow": "the '**' operator",
    "Mod": "the '%' operator (string formatting)",
    "List": "list literals",
    "Tuple": "tuples",
    "Dict": "dict literals",
}


def _describe(node: Any) -> str:
    from jinja2 import nodes

    name = type(node).__name__
    if isinstance(node, nodes.Call):
        callee = node.node
        if isinstance(callee, nodes.Getattr):
            return f"calling .{callee.attr}()"
        if isinstance(callee, nodes.Name):
            return f"calling {callee.name}()"
    return _REFUSED.get(name, f"{{{name}}}")


def _filter_problem(node: Any) -> str | None:
    if node.name not in ALLOWED_FILTERS:
        allowed = ", ".join(sorted(ALLOWED_FILTERS))
        return f"the filter '{node.name}' is not allowed (use one of: {allowed})"
    if node.dyn_args is not None or node.dyn_kwargs is not None:
        return f"the filter '{node.name}' takes no *args or **kwargs here"
    parameters = ALLOWED_FILTERS[node.name]
    if len(node.args) > len(parameters):
        return f"the filter '{node.name}' takes at most {len(parameters)} argument(s)"
    given = list(zip(parameters, node.args, strict=False))
    for keyword in node.kwargs:
        if keyword.key not in parameters:
            return f"the filter '{node.name}' has no argument {keyword.key!r}"
        given.append((keyword.key, keyword.value))
    for parameter, argument in given:
        wrong = parameters[parameter](argument)
        if wrong:
            return f"the filter '{node.name}': {parameter} {wrong}"
    return None


def _problem(node: Any) -> str | None:
    """What is wrong with this one node (its children are checked separately)."""
    from jinja2 import nodes

    if type(node).__name__ not in _ALLOWED_NODES:
        return f"{_describe(node)} is not allowed in message templates"
    if isinstance(node, nodes.Filter):
        return _filter_problem(node)
    if isinstance(node, nodes.Test):
        if node.name not in ALLOWED_TESTS:
            return (
                f"the test 'is {node.name}' is not allowed (use {', '.join(sorted(ALLOWED_TESTS))})"
            )
        if node.args or node.kwargs or node.dyn_args or node.dyn_kwargs:
            return f"the test 'is {node.name}' takes no arguments"
    private = (
        node.attr
        if isinstance(node, nodes.Getattr)
        else node.arg.value
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const)
        else node.name
        if isinstance(node, nodes.Name)
        else None
    )
    if isinstance(private, str) and private.startswith("_"):
        return f"the private name {private!r} is not allowed"
    return None


def check_template(tree: Any) -> None:
    """Raise TemplateError naming the line and the first construct outside the allow-list."""
    pending = [tree]
    while pending:
        node = pending.pop()
        problem = _problem(node)
        if problem:
            raise TemplateError(f"line {node.lineno}: {problem}")
        pending.extend(reversed(list(node.iter_child_nodes())))


# --- compiling and rendering ----------------------------------------------------------------


@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import StrictUndefined
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class PushSandbox(ImmutableSandboxedEnvironment):
        """Second line behind the allow-list: no calls, `*`, `**` or `%` even if one got past
        (`'a' * 10**9` would otherwise be folded at compile time, eating memory)."""

        intercepted_binops = frozenset({"*", "**", "%"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator in self.intercepted_binops:
                raise TemplateError(f"the {operator!r} operator is not allowed in templates")
            return super().call_binop(context, operator, left, right)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            raise SecurityError("message templates call no functions or methods")

    env = PushSandbox(undefined=StrictUndefined, autoescape=False, finalize=_no_none)
    env.filters = {name: env.filters[name] for name in ALLOWED_FILTERS}
    env.tests = {name: env.tests[name] for name in ALLOWED_TESTS}
    env.globals.clear()  # range, lipsum, cycler, ...: nothing a message needs
    return env


@lru_cache(maxsize=2048)
def compile_template(source: str) -> Any:
    """The compiled template; TemplateError with the line for bad syntax or a refused construct."""
    from jinja2 import TemplateSyntaxError

    env = _environment()
    try:
        tree = env.parse(source)
        check_template(tree)
        return env.from_string(tree)
    except TemplateSyntaxError as error:
        raise TemplateError(f"template syntax: {error.message} (line {error.lineno})") from error


def render_text(source: str, data: Mapping[str, Any]) -> str:
    """Render, streaming, and stop at RENDERED_TEXT_LIMIT characters with a TemplateError:
    text that long can never be delivered, and cutting it would send a mangled message."""
    size = 0
    parts = []
    for part in compile_template(source).generate(**data):
        size += len(part)
        if size > RENDERED_TEXT_LIMIT:
            raise TemplateError(
                f"rendered text is longer than {RENDERED_TEXT_LIMIT} characters (FCM's limit)"
            )
        parts.append(part)
    return "".join(parts)
