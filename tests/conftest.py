"""Shared fixtures. Tests never reach the internet: AWS is moto, the stack is on loopback."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

# Set before any handler module is imported: Powertools reads these at import time.
os.environ.update(
    {
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "NudgeTest",
        "POWERTOOLS_SERVICE_NAME": "nudge-test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
)
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

from nudge.clock import ManualClock
from nudge.domain.config import EngagementConfig, InterestRule
from nudge.models.events import IncomingEvent

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday morning
_ids = itertools.count(1)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def config() -> EngagementConfig:
    return EngagementConfig(
        interests=(
            InterestRule(event="ticket_purchased", interest="commuting", weight=2.0),
            InterestRule(event="product_viewed", from_property="category"),
        )
    )


def make_event(
    name: str = "session_start",
    at: datetime = START,
    event_id: str | None = None,
    **properties: Any,
) -> IncomingEvent:
    return IncomingEvent(
        event_id=event_id or f"evt-{next(_ids)}",
        name=name,
        timestamp=at,
        properties=properties,
    )


@pytest.fixture
def event() -> Callable[..., IncomingEvent]:
    return make_event


def days(n: float) -> timedelta:
    return timedelta(days=n)
