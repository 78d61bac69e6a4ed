"""Issue 23: the history costs one write per user and pass, not one per event; items of the
old layout (one per event) are still listed, paged, erased and taken back."""

from __future__ import annotations

import json
import uuid

import pytest

from nudge.adapters.history import DynamoHistoryStore
from nudge.adapters.history_items import MAX_BODY_BYTES
from nudge.adapters.metering import WriteMeter
from nudge.services.ports import HistoryEntry
from tests.conftest import START, days, make_event

pytestmark = pytest.mark.integration
NOW = int(START.timestamp())
LATER = NOW + 90 * 86_400


@pytest.fixture
def history(aws):  # type: ignore[no-untyped-def]
    return DynamoHistoryStore("HistoryTable", WriteMeter(), aws.ddb)


def _legacy(aws, user: str, event_id: str) -> None:  # type: ignore[no-untyped-def]
    """An event item as the layout before issue 23 wrote it."""
    event = make_event("purchase", START - days(3), event_id, amount=5)
    body = event.model_dump_json(exclude={"event_id", "name"})
    aws.ddb.put_item(
        TableName="HistoryTable",
        Item={
            "user_id": {"S": user},
            "sk": {"S": f"e#{event_id}"},
            "name": {"S": "purchase"},
            "at": {"N": str(NOW)},
            "rcv": {"N": str(NOW)},
            "body": {"S": body},
            "expires_at": {"N": str(LATER)},
        },
    )


def test_a_pass_of_twenty_events_is_one_write_unit(history) -> None:  # type: ignore[no-untyped-def]
    events = [
        make_event("screen_view", START + days(0.0001 * i), str(uuid.uuid4()),
                   screen=f"screen-{i % 4}", referrer="home")
        for i in range(20)
    ]  # fmt: skip
    history.append([HistoryEntry("ann", events, NOW, LATER)])
    assert history.meter.total == 1  # one item under 1 KB: the ids and the compressed events
    assert [r["event_id"] for r in history.list_user("ann")] == [e.event_id for e in events]


def test_a_huge_pass_is_split_below_the_item_limit(history, aws) -> None:  # type: ignore[no-untyped-def]
    import secrets

    big = [
        make_event("blob", START, f"big-{i}", **{f"p{j}": secrets.token_hex(60) for j in range(40)})
        for i in range(200)
    ]  # ~1 MB of incompressible properties in one hour
    history.append([HistoryEntry("ann", big, NOW, LATER)])
    items = aws.ddb.query(
        TableName="HistoryTable",
        KeyConditionExpression="user_id = :u",
        ExpressionAttributeValues={":u": {"S": "ann"}},
    )["Items"]
    assert len(items) > 1 and all(len(i["z"]["B"]) <= MAX_BODY_BYTES for i in items)
    assert sorted(r["event_id"] for r in history.list_user("ann")) == sorted(
        e.event_id for e in big
    )


def test_old_layout_items_are_still_read_paged_and_erased(history, aws) -> None:  # type: ignore[no-untyped-def]
    _legacy(aws, "ann", "old-1")
    _legacy(aws, "ann", "old-2")
    new = [make_event("screen_view", START, f"new-{i}") for i in range(3)]
    history.append([HistoryEntry("ann", new, NOW, LATER)])
    listed = history.list_user("ann")
    assert [r["event_id"] for r in listed] == ["old-1", "old-2", "new-0", "new-1", "new-2"]
    assert listed[0]["name"] == "purchase" and listed[0]["properties"] == {"amount": 5}
    pages, after = [], None
    while True:
        page, after = history.list_user_page("ann", 2, after)
        pages += page
        if after is None:
            break
    assert pages == listed
    history.delete_events("ann", ["old-2", "new-1"])
    assert [r["event_id"] for r in history.list_user("ann")] == ["old-1", "new-0", "new-2"]
    assert history.delete_user("ann") == 3
    assert history.list_user("ann") == []


def test_a_cursor_from_before_the_change_still_continues(history, aws) -> None:  # type: ignore[no-untyped-def]
    """GET /v1/me cursors are sort keys: one handed out under the old layout still works."""
    _legacy(aws, "ann", "old-1")
    _legacy(aws, "ann", "old-2")
    history.append([HistoryEntry("ann", [make_event(event_id="new-0")], NOW, LATER)])
    page, after = history.list_user_page("ann", 5, "e#old-1")
    assert [r["event_id"] for r in page] == ["old-2", "new-0"] and after is None
    assert json.dumps(page)  # as the API returns it
