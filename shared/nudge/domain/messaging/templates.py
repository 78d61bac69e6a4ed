"""Message templates: sandboxed Jinja, per-locale text with fallback, FCM's 4 KB limit.

A missing variable is an error naming it (never an empty string in someone's notification).
What a template may contain is checked when it is loaded (`nudge.templating`'s allow-list);
rendering stops at `RENDERED_TEXT_LIMIT` characters per field.
"""

from __future__ import annotations

import json
from typing import Any

from nudge.models.template import MessageTemplate, RenderedMessage
from nudge.templating import FCM_PAYLOAD_LIMIT, TemplateError, render_text


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
            fields[field] = render_text(source, data).strip()
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
