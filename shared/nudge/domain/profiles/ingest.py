"""Per-event validation of an ingest request: the valid rest of a batch is never lost."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from nudge.domain.config import EngagementConfig
from nudge.models.events import IncomingEvent, Rejection


@dataclass
class ValidatedBatch:
    valid: list[tuple[int, IncomingEvent]] = field(default_factory=list)  # (index, event)
    rejected: list[Rejection] = field(default_factory=list)


def describe_validation_error(error: ValidationError, prefix: str = "") -> str:
    """'timestamp: Input should have timezone info; name: ...' — fields named, input not echoed."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        location = ".".join(str(part) for part in item["loc"])
        where = f"{prefix}{location}" if location else prefix.rstrip(".") or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts[:5]) + (f" (+{len(parts) - 5} more)" if len(parts) > 5 else "")


def validate_events(raw: list[Any], now: datetime, config: EngagementConfig) -> ValidatedBatch:
    result = ValidatedBatch()
    oldest = now - timedelta(days=config.max_event_age_days)
    newest = now + timedelta(minutes=config.max_clock_skew_minutes)
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        event_id = item.get("event_id") if isinstance(item, dict) else None
        label = event_id if isinstance(event_id, str) and len(event_id) <= 128 else None
        if not isinstance(item, dict):
            result.rejected.append(Rejection(index=index, error="event must be a JSON object"))
            continue
        try:
            event = IncomingEvent.model_validate(item)
        except ValidationError as error:
            result.rejected.append(
                Rejection(index=index, event_id=label, error=describe_validation_error(error))
            )
            continue
        problem = None
        if event.timestamp > newest:
            problem = (
                f"timestamp: more than {config.max_clock_skew_minutes} minutes in the future "
                "(check the device clock)"
            )
        elif event.timestamp < oldest:
            problem = f"timestamp: older than {config.max_event_age_days} days"
        elif event.event_id in seen:
            problem = f"event_id: duplicate of events[{seen[event.event_id]}] in this request"
        if problem:
            result.rejected.append(Rejection(index=index, event_id=label, error=problem))
            continue
        seen[event.event_id] = index
        result.valid.append((index, event))
    return result
