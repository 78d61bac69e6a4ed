"""A broadcast's status on its own (push_sender's one read per batch) and the progress write
that never undoes a cancel: fake vs DynamoDB adapter."""

from __future__ import annotations

from typing import Any

import pytest

from nudge.adapters.broadcasts import DynamoBroadcastStore
from nudge.adapters.metering import WriteMeter
from tests.contract.test_broadcasts import broadcast
from tests.fakes.broadcasts import InMemoryBroadcasts

pytestmark = pytest.mark.integration


def fake() -> InMemoryBroadcasts:
    return InMemoryBroadcasts()


def adapter(ddb: Any) -> DynamoBroadcastStore:
    return DynamoBroadcastStore("BroadcastsTable", WriteMeter(), ddb)


def test_the_status_alone(store) -> None:  # type: ignore[no-untyped-def]
    assert store.status("b1") is None
    store.create(broadcast())
    assert store.status("b1") == "running"
    assert store.advance(broadcast(0, status="cancelled"), from_step=0)
    assert store.status("b1") == "cancelled"


def test_a_step_never_undoes_a_cancel(store) -> None:  # type: ignore[no-untyped-def]
    store.create(broadcast())
    assert store.advance(broadcast(0, status="cancelled"), from_step=0)
    assert not store.advance(broadcast(1, cursor="c1", enqueued=10), from_step=0)
    assert store.get("b1") == broadcast(0, status="cancelled")


def test_an_item_written_before_the_status_attribute(tables) -> None:  # type: ignore[no-untyped-def]
    """Broadcasts stored by the previous release (no `status` attribute) still answer."""
    store = adapter(tables.ddb)
    old = broadcast(2, status="cancelled")
    item = store.to_item({"broadcast_id": "b1", "step": 2, "body": old.model_dump_json()})
    tables.ddb.put_item(TableName="BroadcastsTable", Item=item)
    assert store.status("b1") == "cancelled"
