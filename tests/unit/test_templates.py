"""Message templates: sandboxed, strict about missing data, localised with fallback, <= 4 KB."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from nudge.domain.messaging.templates import (
    FCM_PAYLOAD_LIMIT,
    check_payload,
    payload_size,
    pick_locale,
    render,
)
from nudge.models.template import MessageTemplate
from nudge.templating import TemplateError


def template(**overrides: Any) -> MessageTemplate:
    data: dict[str, Any] = {
        "id": "order-shipped",
        "category": "transactional",
        "default_locale": "en",
        "text": {
            "en": {
                "title": "Your order {{ order.id }} is on its way",
                "body": "Hi {{ user.first_name | default('there') }}, it arrives {{ eta }}.",
                "deep_link": "app://orders/{{ order.id }}",
            },
            "nl": {
                "title": "Bestelling {{ order.id }} is onderweg",
                "body": "Hoi {{ user.first_name | default('daar') }}, hij komt {{ eta }}.",
            },
            "nl-BE": {"title": "Bestelling {{ order.id }} is verstuurd", "body": "Tot {{ eta }}!"},
        },
    }
    data.update(overrides)
    return MessageTemplate.model_validate(data)


DATA = {"order": {"id": "A-17"}, "user": {"first_name": "Ann"}, "eta": "tomorrow"}


def test_render_with_defaults_and_deep_link() -> None:
    message = render(template(), "en-GB", DATA)
    assert message.title == "Your order A-17 is on its way"
    assert message.body == "Hi Ann, it arrives tomorrow."
    assert message.deep_link == "app://orders/A-17"
    assert render(template(), "en", {**DATA, "user": {}}).body == "Hi there, it arrives tomorrow."


@pytest.mark.parametrize(
    ("locale", "chosen"),
    [
        ("nl-BE", "nl-BE"),
        ("nl-NL", "nl"),
        ("nl", "nl"),
        ("nl_BE", "nl-BE"),
        ("fr-FR", "en"),
        (None, "en"),
        ("", "en"),
    ],
)
def test_locale_fallback(locale: str | None, chosen: str) -> None:
    assert pick_locale(template(), locale) == chosen


def test_language_without_plain_entry_uses_a_regional_one() -> None:
    t = template(text={"en": {"title": "t", "body": "b"}, "pt-BR": {"title": "o", "body": "p"}})
    assert pick_locale(t, "pt-PT") == "pt-BR"


def test_missing_variable_is_an_error_naming_it() -> None:
    with pytest.raises(TemplateError, match="title: missing data: 'order' is undefined"):
        render(template(), "en", {"eta": "soon"})


def test_syntax_errors_are_caught_when_the_template_is_loaded() -> None:
    with pytest.raises(ValidationError, match=r"text\.en\.title\n\s+Value error, template syntax"):
        template(text={"en": {"title": "{{ broken", "body": "b"}})


def test_default_locale_must_exist() -> None:
    with pytest.raises(ValidationError, match="default_locale"):
        template(default_locale="de")


def test_sandbox_escapes_are_refused_when_the_template_is_loaded() -> None:
    with pytest.raises(ValidationError, match=r"private name '__mro__' is not allowed"):
        template(text={"en": {"title": "{{ ''.__class__.__mro__ }}", "body": "b"}})


def test_empty_rendering_is_refused() -> None:
    blank = template(text={"en": {"title": "{{ name }}", "body": "b"}})
    with pytest.raises(TemplateError, match="title: rendered empty"):
        render(blank, "en", {"name": "  "})


def test_no_html_escaping_in_push_text() -> None:
    t = template(text={"en": {"title": "{{ x }}", "body": "b"}})
    assert render(t, "en", {"x": "Tom & Jerry <3"}).title == "Tom & Jerry <3"


def test_payload_limit() -> None:
    small = {"message": {"token": "t", "notification": {"title": "é" * 10, "body": "b"}}}
    assert payload_size(small) < 100
    check_payload(small)
    big = {"message": {"data": {"blob": "x" * FCM_PAYLOAD_LIMIT}}}
    with pytest.raises(TemplateError, match="FCM accepts at most 4096"):
        check_payload(big)


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("{{ 1 / 0 }}", "cannot render"),
        ("{{ x + 1 }}", "cannot render"),
        ("Hi {{ name }}", "None"),
    ],
)
def test_hostile_or_broken_templates_fail_cleanly(source: str, fragment: str) -> None:
    t = template(text={"en": {"title": source, "body": "b"}})
    with pytest.raises(TemplateError, match=fragment):
        render(t, "en", {"x": "text", "name": None})


@pytest.mark.parametrize(
    ("locale", "chosen"),
    [("NL-be", "nl-BE"), ("zh-Hant-TW", "zh-Hant"), ("zh-HK", "zh"), ("ZH", "zh")],
)
def test_locale_matching_ignores_case_and_walks_subtags(locale: str, chosen: str) -> None:
    t = template(
        text={
            "en": {"title": "t", "body": "b"},
            "nl-BE": {"title": "t", "body": "b"},
            "zh": {"title": "t", "body": "b"},
            "zh-Hant": {"title": "t", "body": "b"},
        }
    )
    assert pick_locale(t, locale) == chosen
