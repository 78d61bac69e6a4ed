"""The answers a route declares (`responses=`), with their models named rather than imported.

The response models (admin_models, admin_config_models, mobile_models) only describe answers
for the OpenAPI documents: the handlers serve the committed documents and return the services'
dicts, so they never need them. Routes therefore name a model (`ADMIN.ok("UserExport")`,
`ADMIN.ok("A | B")`) and `resolve_models()` swaps the names for the classes when a document is
built (and in the tests that check real answers against their models). That keeps the model
classes off every API function's cold start, and off its first request's validation set-up.
"""

from __future__ import annotations

import importlib
from functools import reduce
from typing import Any, cast

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

NAMED = "x-nudge-model"  # where a named model waits inside a response's content
Responses = dict[int, OpenAPIResponse]

_named: list[tuple[dict[str, Any], tuple[str, ...]]] = []  # content entries still holding names


class Answers:
    """How one document's routes declare answers; names are looked up in `modules`."""

    def __init__(self, *modules: str) -> None:
        self.modules = modules

    def answer(self, model: Any, description: str) -> OpenAPIResponse:
        """`model` is a class, or the name of one in the modules (`|` joins several)."""
        entry: dict[str, Any] = {NAMED: model} if isinstance(model, str) else {"model": model}
        if isinstance(model, str):
            _named.append((entry, self.modules))
        content = {"application/json": entry}
        return cast(OpenAPIResponse, {"description": description, "content": content})

    def ok(self, model: Any, description: str = "OK", status: int = 200) -> Responses:
        """The success answer of a route."""
        return {status: self.answer(model, description)}


def no_content(description: str) -> Responses:
    """An empty 204 (an empty `content`: Powertools would otherwise document the return type)."""
    return {204: cast(OpenAPIResponse, {"description": description, "content": {}})}


def _model(name: str, modules: tuple[str, ...]) -> Any:
    for module in modules:
        found = getattr(importlib.import_module(module), name, None)
        if found is not None:
            return found
    raise LookupError(f"no response model named {name!r} in {', '.join(modules)}")


def resolve_models() -> None:
    """Replace every named model by its class, in place (the routes hold these same dicts)."""
    while _named:
        entry, modules = _named.pop()
        names = [part.strip() for part in entry.pop(NAMED).split("|")]
        models = [_model(name, modules) for name in names]
        entry["model"] = reduce(lambda union, model: union | model, models)


# --- the admin API (IAM-signed; API Gateway itself answers a missing or refused signature) ----

ADMIN = Answers(
    "nudge.api.admin_models", "nudge.api.admin_message_models", "nudge.api.admin_config_models"
)
ok = ADMIN.ok
FORBIDDEN: Responses = {
    403: ADMIN.answer("GatewayError", "No or wrong SigV4 signature, or IAM does not allow it")
}
INVALID: Responses = {
    400: ADMIN.answer("InvalidRequest", "Invalid parameter or body field (named in the message)")
}
NOT_FOUND: Responses = {404: ADMIN.answer("ErrorBody", "Not found (the message says what)")}
TOO_LARGE: Responses = {413: ADMIN.answer("ErrorBody", "Request body over 256 KiB")}
# a config the parsers refuse has located problems; a body that isn't even JSON does not
CONFIG_REJECTED: Responses = {
    400: ADMIN.answer(
        "InvalidConfig | InvalidRequest", "Invalid request, or a config that cannot be published"
    )
}
ERRORS: Responses = {**INVALID, **FORBIDDEN}
BODY_ERRORS: Responses = {**ERRORS, **TOO_LARGE}
