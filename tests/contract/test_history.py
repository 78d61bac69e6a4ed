"""HistoryStore: fake vs DynamoDB adapter (events, transitions, consents; pages; erasure)."""

from __future__ import annotations

from typing import Any

import pytest

from nudge.adapters.history import DynamoHistoryStore
from nudge.adapters.metering import WriteMeter
from nudge.models.device import ConsentChange
from nudge.models.events import IncomingEvent
from nudge.models.profile import Stage, Transition
from nudge.services.ports import HistoryEntry
from tests.conftest import START, days, make_event
from tests.fakes.memory import InMemoryHistoryStore

pytestmark = pytest.mark.integration
NOW = int(START.timestamp())
LATER = NOW + 90 * 86_400


def fake() -> InMemoryHistoryStore:
    return InMemoryHistoryStore()


def adapter(ddb: Any) -> DynamoHistoryStore:
    return DynamoHistoryStore("HistoryTable", WriteMeter(), ddb)


def event_record(event: IncomingEvent) -> dict[str, Any]:
    return {"type": "event", **event.model_dump(mode="json")}


def transition(at: int, to: Stage, frm: Stage | None = None) -> Transition:
    return Transition(from_stage=frm, to_stage=to, at=at, cause="event")


def consent(at: int, granted: bool, version: int = 1) -> ConsentChange:
    return ConsentChange(
        category="marketing",
        granted=granted,
        previous=not granted,
        at=at,
        source="app",
        version=version,
    )


def fill(store: Any, user: str = "ann") -> None:
    """3 events, 2 transitions and 2 consents, written out of time order."""
    store.append(
        [
            HistoryEntry(
                user,
                [make_event("session_start", START + days(1), f"{user}-e2", screen="home")],
                NOW,
                LATER,
                transition(NOW + 86_400, Stage.ACTIVE, Stage.NEW),
            ),
            HistoryEntry(
                user,
                [
                    make_event("session_start", START, f"{user}-e1"),
                    make_event("purchase", START + days(2), f"{user}-e3", amount=9.5),
                ],
                NOW,
                LATER,
                transition(NOW, Stage.NEW),
            ),
        ]
    )
    store.put_consent(user, consent(NOW + 50, False, 2), LATER)
    store.put_consent(user, consent(NOW + 10, True), LATER)


def test_events_read_back_as_written(store) -> None:  # type: ignore[no-untyped-def]
    event = make_event("purchase", START, "e1", amount=12.5, sku="x")
    store.append([HistoryEntry("ann", [event], NOW, LATER)])
    assert store.list_user("ann") == [event_record(event)]
    assert store.list_user("bob") == []


def test_existing_event_ids(store) -> None:  # type: ignore[no-untyped-def]
    """An event comes back with its timestamp: found by its id among its hours' items."""
    fill(store)
    e1, e3 = (
        make_event("session_start", START, "ann-e1"),
        make_event("x", START + days(2), "ann-e3"),
    )
    nope = make_event("x", START + days(1), "nope")
    keys = [("ann", e1), ("ann", e3), ("ann", nope), ("bob", e1)]
    assert store.existing_event_ids(keys + keys) == {("ann", "ann-e1"), ("ann", "ann-e3")}
    many = [make_event(event_id=f"m{i:03d}") for i in range(130)]
    store.append([HistoryEntry("cy", many, NOW, LATER)])
    found = store.existing_event_ids([("cy", e) for e in many] + [("cy", make_event(event_id="x"))])
    assert found == {("cy", e.event_id) for e in many}


def test_append_is_idempotent(store) -> None:  # type: ignore[no-untyped-def]
    fill(store)
    before = store.list_user("ann")
    fill(store)  # a redelivered batch writes the same keys again
    assert store.list_user("ann") == before
    assert len(before) == 7


def test_ordering_consents_events_transitions(store) -> None:  # type: ignore[no-untyped-def]
    """The sort key orders a user's records: consents (oldest first), events (by hour, in
    time order within a pass), transitions (oldest first)."""
    fill(store)
    records = store.list_user("ann")
    assert [r["type"] for r in records] == ["consent"] * 2 + ["event"] * 3 + ["transition"] * 2
    assert [r["at"] for r in records[:2]] == [NOW + 10, NOW + 50]
    assert [r["event_id"] for r in records[2:5]] == ["ann-e1", "ann-e2", "ann-e3"]
    assert [r["at"] for r in records[5:]] == [NOW, NOW + 86_400]
    assert records[0] == {
        "type": "consent",
        **consent(NOW + 10, True).model_dump(mode="json", exclude_none=True),
    }
    assert records[5] == {
        "type": "transition",
        **transition(NOW, Stage.NEW).model_dump(mode="json"),
    }


@pytest.mark.parametrize("limit", [1, 2, 3, 7, 10])
def test_pages_lose_and_repeat_nothing(store, limit: int) -> None:  # type: ignore[no-untyped-def]
    fill(store)
    fill(store, "bob")
    # a pass of five events in one hour: one item, so pages also end inside an item
    burst = [make_event("screen_view", START + days(1), f"b{i}") for i in range(5)]
    store.append([HistoryEntry("ann", burst, NOW, LATER)])
    pages: list[list[dict[str, Any]]] = []
    after = None
    for _ in range(20):
        page, after = store.list_user_page("ann", limit, after)
        assert len(page) <= limit
        pages.append(page)
        if after is None:
            break
    assert after is None
    assert [r for page in pages for r in page] == store.list_user("ann")  # same order too
    assert all(pages[:-1])  # only the last page may be empty


def test_a_cursor_continues_after_the_page(store) -> None:  # type: ignore[no-untyped-def]
    fill(store)
    first, after = store.list_user_page("ann", 4, None)
    rest, end = store.list_user_page("ann", 10, after)
    assert end is None
    assert first + rest == store.list_user("ann")
    assert store.list_user_page("nobody", 5, None) == ([], None)


def test_transitions_and_consents_are_keyed(store) -> None:  # type: ignore[no-untyped-def]
    store.put_transition("ann", transition(NOW, Stage.NEW), LATER)
    store.put_transition("ann", transition(NOW, Stage.NEW), LATER)  # same key: one record
    store.put_transition("ann", transition(NOW, Stage.ACTIVE, Stage.NEW), LATER)
    store.put_consent("ann", consent(NOW, True), LATER)
    store.put_consent("ann", consent(NOW, True), LATER)
    assert [r["type"] for r in store.list_user("ann")] == ["consent", "transition", "transition"]


def test_ttl_free(store) -> None:  # type: ignore[no-untyped-def]
    """Expiry is DynamoDB's TTL, deleting lazily: a read never filters on expires_at."""
    store.append([HistoryEntry("ann", [make_event(event_id="old")], NOW, 1, None)])
    store.put_consent("ann", consent(NOW, True), 1)
    assert len(store.list_user("ann")) == 2
    assert store.existing_event_ids([("ann", make_event(event_id="old"))]) == {("ann", "old")}


def test_delete_user_and_events(store) -> None:  # type: ignore[no-untyped-def]
    fill(store)
    fill(store, "bob")
    many = [make_event(event_id=f"m{i:03d}") for i in range(30)]  # > one BatchWriteItem
    store.append([HistoryEntry("ann", many, NOW, LATER)])
    store.delete_events("ann", ["ann-e2", "nope", "m001"])
    e1, e2 = (
        make_event("session_start", START, "ann-e1"),
        make_event("s", START + days(1), "ann-e2"),
    )
    assert store.existing_event_ids([("ann", e2), ("ann", e1)]) == {("ann", "ann-e1")}
    listed = sorted(r["event_id"] for r in store.list_user("ann") if r["type"] == "event")
    assert listed == sorted(["ann-e1", "ann-e3", *(f"m{i:03d}" for i in range(30) if i != 1)])
    # the pass that held m001 is written back without it
    assert store.delete_user("ann") == 35
    assert store.list_user("ann") == []
    assert store.delete_user("ann") == 0
    assert len(store.list_user("bob")) == 7


def test_decision_records_newest_first_paged_and_erased(store) -> None:  # type: ignore[no-untyped-def]
    """Issue 21: campaign decision records ride in `append` after the events, or come alone
    (the scheduler's), one item per pass; the same pass written again is one item; in pages
    as `decision` rows holding the pass's records."""
    from nudge.domain.engagement.decision_record import DecisionRecord

    older = DecisionRecord(NOW, "welcome", "e:e1", "suppress", "consent", "no consent")
    also = DecisionRecord(NOW, "tips", "e:e1", "holdout", "holdout", "in the 10% control group")
    newer = DecisionRecord(NOW + 60, "welcome", "e:e2", "send", None, "", "a")
    passed = [older, also]
    entry = HistoryEntry("ann", [make_event(event_id="e1")], NOW, LATER, None, passed, LATER)
    store.append([entry])
    store.append([entry])  # a redelivered batch: the same keys again
    store.put_decisions("ann", [newer], LATER)
    store.put_decisions("bob", [newer], LATER)
    assert store.decisions("ann") == [newer, older, also]
    assert store.decisions("nobody") == []
    decided = [r for r in store.list_user("ann") if r["type"] == "decision"]
    assert decided == [
        {"type": "decision", "at": NOW, "records": [
            {"campaign": "welcome", "occurrence": "e:e1", "action": "suppress",
             "reason": "consent", "detail": "no consent"},
            {"campaign": "tips", "occurrence": "e:e1", "action": "holdout",
             "reason": "holdout", "detail": "in the 10% control group"},
        ]},
        {"type": "decision", "at": NOW + 60, "records": [
            {"campaign": "welcome", "occurrence": "e:e2", "action": "send", "variant": "a"},
        ]},
    ]  # fmt: skip
    assert store.delete_user("ann") == 3
    assert store.decisions("ann") == [] and store.decisions("bob") == [newer]


def test_events_are_recorded_in_time_order_within_a_pass(store) -> None:  # type: ignore[no-untyped-def]
    late, early = make_event("b", START + days(0.01), "z-late"), make_event("a", START, "a-early")
    store.append([HistoryEntry("ann", [late, early], NOW, LATER)])
    assert store.list_user("ann") == [event_record(early), event_record(late)]
