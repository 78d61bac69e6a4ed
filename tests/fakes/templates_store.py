"""In-memory fakes of templates_store ports (tests only, never in the Lambda layer)."""

from __future__ import annotations

import threading

from nudge.models.template import MessageTemplate


class InMemoryTemplateStore:
    def __init__(self) -> None:
        self.templates: dict[str, MessageTemplate] = {}
        self._lock = threading.Lock()

    def put(self, template: MessageTemplate, at: int) -> None:
        with self._lock:
            self.templates[template.id] = template

    def get(self, template_id: str) -> MessageTemplate | None:
        with self._lock:
            return self.templates.get(template_id)
