"""Message templates: sandboxed Jinja, per-locale text with fallback, FCM's 4 KB limit.

A missing variable is an error naming it (never an empty string in someone's notification).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FCM_PAYLOAD_LIMIT = 4096  # bytes of the message FCM delivers to the device


class TemplateError(ValueError):
    """A template that cannot be compiled or rendered; the message names the field."""


class MessageText(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=200)
    body: str = Field(min_length=1, max_length=1000)
    image: str | None = Field(default=None, max_length=1000)
    deep_link: str | None = Field(default=None, max_length=1000)


class AndroidOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_id: str | None = Field(default=None, max_length=100)
    priority: Literal["normal", "high"] = "high"


class ApnsOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sound: str | None = "default"
    badge: int | None = Field(default=None, ge=0, le=99_999)
    thread_id: str | None = Field(default=None, max_length=100)
    interruption_level: Literal["passive", "active", "time-sensitive", "critical"] = "active"


class MessageTemplate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
    category: Literal["transactional", "marketing", "product_updates", "internal"]
    default_locale: str = "en"
    text: dict[str, MessageText] = Field(min_length=1, description="locale -> text")
    android: AndroidOptions = Field(default_factory=AndroidOptions)
    apns: ApnsOptions = Field(default_factory=ApnsOptions)
    collapse_key: str | None = Field(default=None, max_length=100)
    respect_quiet_hours: bool | None = Field(
        default=None, description="Default: yes, except for transactional messages"
    )

    @property
    def quiet_hours_apply(self) -> bool:
        if self.respect_quiet_hours is not None:
            return self.respect_quiet_hours
        return self.category != "transactional"

    @model_validator(mode="after")
    def _compiles(self) -> MessageTemplate:
        if self.default_locale not in self.text:
            raise ValueError(f"text: no entry for default_locale {self.default_locale!r}")
        for locale, text in self.text.items():
            for field, source in text.model_dump(exclude_none=True).items():
                try:
                    _compile(source)
                except TemplateError as error:
                    raise ValueError(f"text.{locale}.{field}: {error}") from error
        return self


class RenderedMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    template_id: str
    locale: str
    title: str
    body: str
    image: str | None = None
    deep_link: str | None = None


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
def _compile(source: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return _environment().from_string(source)
    except TemplateSyntaxError as error:
        raise TemplateError(f"template syntax: {error.message} (line {error.lineno})") from error
    except TemplateError:
        raise


def pick_locale(template: MessageTemplate, locale: str | None) -> str:
    """Exact locale, then its language, then any of that language, then the default."""
    if locale:
        by_lower = {key.lower(): key for key in template.text}
        wanted = locale.replace("_", "-").lower()
        if wanted in by_lower:
            return by_lower[wanted]
        parts = wanted.split("-")
        for length in range(len(parts) - 1, 0, -1):  # zh-hant-tw -> zh-hant -> zh
            prefix = "-".join(parts[:length])
            if prefix in by_lower:
                return by_lower[prefix]
        for key in sorted(by_lower):
            if key.split("-")[0] == parts[0]:
                return by_lower[key]
    return template.default_locale


def render(template: MessageTemplate, locale: str | None, data: dict[str, Any]) -> RenderedMessage:
    from jinja2 import TemplateError as JinjaError
    from jinja2 import UndefinedError
    from jinja2.exceptions import SecurityError

    chosen = pick_locale(template, locale)
    fields: dict[str, str] = {}
    for field, source in template.text[chosen].model_dump(exclude_none=True).items():
        try:
            fields[field] = _compile(source).render(**data).strip()
        except UndefinedError as error:
            raise TemplateError(f"{field}: missing data: {error.message}") from error
        except SecurityError as error:
            raise TemplateError(f"{field}: not allowed in a template: {error}") from error
        except TemplateError as error:
            raise TemplateError(f"{field}: {error}") from error
        except (JinjaError, ArithmeticError, TypeError, ValueError) as error:
            raise TemplateError(f"{field}: cannot render: {error}") from error
        if not fields[field] and field in ("title", "body"):
            raise TemplateError(f"{field}: rendered empty")
    return RenderedMessage(template_id=template.id, locale=chosen, **fields)


def payload_size(message: dict[str, Any]) -> int:
    """Bytes of the FCM message as sent (compact JSON, UTF-8)."""
    return len(json.dumps(message, separators=(",", ":"), ensure_ascii=False).encode())


def check_payload(message: dict[str, Any]) -> None:
    size = payload_size(message)
    if size > FCM_PAYLOAD_LIMIT:
        raise TemplateError(f"payload is {size} bytes; FCM accepts at most {FCM_PAYLOAD_LIMIT}")
