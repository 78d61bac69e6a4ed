"""The template store: fake vs DynamoDB adapter."""

from __future__ import annotations

from typing import Any

import pytest

from nudge.adapters.metering import WriteMeter
from nudge.adapters.templates_store import DynamoTemplateStore
from nudge.models.template import MessageTemplate
from tests.fakes.templates_store import InMemoryTemplateStore

pytestmark = pytest.mark.integration


def fake() -> InMemoryTemplateStore:
    return InMemoryTemplateStore()


def adapter(ddb: Any) -> DynamoTemplateStore:
    return DynamoTemplateStore("TemplatesTable", WriteMeter(), ddb)


def template(title: str, template_id: str = "welcome") -> MessageTemplate:
    return MessageTemplate(
        id=template_id, category="marketing", text={"en": {"title": title, "body": "b"}}
    )


def test_put_get_and_overwrite(store) -> None:  # type: ignore[no-untyped-def]
    assert store.get("welcome") is None
    store.put(template("one"), 1)
    store.put(template("other", "promo"), 1)
    assert store.get("welcome") == template("one")
    store.put(template("two"), 2)  # unconditional: the last put wins
    assert store.get("welcome") == template("two")
    assert store.get("promo") == template("other", "promo")
