"""The DynamoDB adapters against moto, on tables created from template.yaml."""

from __future__ import annotations

import pytest

from nudge.adapters.devices import DynamoDeviceStore
from nudge.adapters.dynamo_codec import due_bucket
from nudge.adapters.dynamodb import DynamoProfileStore
from nudge.adapters.history import DynamoHistoryStore
from nudge.adapters.metering import WriteMeter
from nudge.models.device import Preferences
from nudge.models.profile import Profile, Stage, Transition
from nudge.models.stats import StageChange
from nudge.services.ports import HistoryEntry
from tests.conftest import START, make_event
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration
NOW = int(START.timestamp())


@pytest.fixture
def stores(aws: Aws) -> tuple[DynamoProfileStore, DynamoHistoryStore, WriteMeter]:
    meter = WriteMeter()
    return (
        DynamoProfileStore("ProfilesTable", meter, aws.ddb),
        DynamoHistoryStore("HistoryTable", meter, aws.ddb),
        meter,
    )


def test_conditional_writes_detect_conflicts(stores) -> None:  # type: ignore[no-untyped-def]
    profiles, _, meter = stores
    first = Profile(user_id="ann", version=1, first_seen=NOW, last_seen=NOW)
    assert profiles.save(first, None, 4)
    assert not profiles.save(first, None, 4)  # someone created it first
    second = first.model_copy(update={"version": 2})
    assert profiles.save(second, first, 4)
    assert not profiles.save(second.model_copy(update={"version": 3}), first, 4)  # stale read
    assert profiles.get("ann") == second
    assert meter.writes == 2


def test_profiles_read_together(stores) -> None:  # type: ignore[no-untyped-def]
    profiles, _, _ = stores
    ann = Profile(user_id="ann", version=1, first_seen=NOW, last_seen=NOW)
    gone = Profile(user_id="bob", version=3, erased_at=NOW)  # an erasure's tombstone
    assert profiles.save(ann, None, 1) and profiles.save(gone, None, 1)
    latest = profiles.get_latest(["ann", "bob", "nobody", "ann"])
    assert latest == {"ann": ann, "bob": gone}  # as stored, for the event processor
    assert profiles.get_many(["ann", "bob"]) == {"ann": ann}  # a broadcast skips tombstones
    many = [f"u{i:03d}" for i in range(130)]  # more than one BatchGetItem holds
    for user in many:
        profiles.save(Profile(user_id=user, version=1), None, 1)
    assert sorted(profiles.get_latest(many)) == many


def test_transactional_counters_and_their_conflicts(stores) -> None:  # type: ignore[no-untyped-def]
    profiles, _, meter = stores
    arrival = StageChange(None, Stage.NEW, NOW)
    first = Profile(user_id="ann", version=1, first_seen=NOW, last_seen=NOW, stage=Stage.NEW)
    assert profiles.save(first, None, 4, arrival)
    assert not profiles.save(first, None, 4, arrival)  # cancelled transaction: counted once
    moved = first.model_copy(update={"version": 2, "stage": Stage.AT_RISK})
    assert profiles.save(moved, first, 4, StageChange(Stage.NEW, Stage.AT_RISK, NOW))
    counts = profiles.lifecycle_counts(NOW // 86_400, NOW // 86_400)
    assert counts.stages == {"new": 0, "at_risk": 1}
    assert counts.moves == {"new>at_risk": 1}
    assert meter.table_units >= 2 * 3  # transactions bill twice per item


def test_due_index_and_cursor(stores) -> None:  # type: ignore[no-untyped-def]
    profiles, _, _ = stores
    due = (NOW // 3600 + 5) * 3600
    for name in ("ann", "bob", "cy"):
        profiles.save(Profile(user_id=name, version=1, due_at=due), None, 1)
    profiles.save(Profile(user_id="dee", version=1), None, 1)  # nothing due: not indexed
    assert sorted(profiles.due_users(due_bucket(due, "ann", 1))) == ["ann", "bob", "cy"]
    assert profiles.get_cursor("c") is None
    profiles.set_cursor("c", 42)
    assert profiles.get_cursor("c") == 42


def test_history_records_dedupe_export_and_erase(stores) -> None:  # type: ignore[no-untyped-def]
    _, history, _ = stores
    events = [make_event(event_id=f"e{i}") for i in range(30)]
    new = Transition(from_stage=None, to_stage=Stage.NEW, at=NOW, cause="event")
    # two users' passes in one BatchWriteItem: a pass's events of one hour are one item
    entries = [
        HistoryEntry("ann", events, NOW, NOW + 86_400, new),
        HistoryEntry("cy", [make_event(event_id="e1")], NOW, NOW + 86_400),
    ]
    history.append(entries)
    history.append(entries)  # redelivered: the same records, not more
    e1, e29, nope = events[1], events[29], make_event(event_id="nope")
    keys = [("ann", e1), ("ann", e29), ("ann", nope), ("bob", e1), ("cy", e1)]
    assert history.existing_event_ids(keys) == {("ann", "e1"), ("ann", "e29"), ("cy", "e1")}
    exported = history.list_user("ann")
    assert len(exported) == 31
    assert {r["type"] for r in exported} == {"event", "transition"}
    assert history.delete_user("ann") == 31
    assert history.list_user("ann") == []
    assert len(history.list_user("cy")) == 1


def test_history_pages_cover_everything_once(stores) -> None:  # type: ignore[no-untyped-def]
    _, history, _ = stores
    page_events = [make_event(event_id=f"e{i:03d}") for i in range(55)]
    history.append([HistoryEntry("ann", page_events, NOW, NOW)])
    seen, cursor, pages = [], None, 0
    while True:
        page, cursor = history.list_user_page("ann", 20, cursor)
        seen += [r["event_id"] for r in page]
        pages += 1
        if cursor is None:
            break
    assert pages <= 4
    assert sorted(seen) == [f"e{i:03d}" for i in range(55)]


def test_preferences_read_together(aws: Aws) -> None:
    devices = DynamoDeviceStore("DevicesTable", WriteMeter(), aws.ddb)
    users = [f"u{i:03d}" for i in range(105)]  # more than one BatchGetItem holds
    for i, user in enumerate(users):
        categories = {"marketing": i % 2 == 0, "location": i % 3 == 0}
        assert devices.save_preferences(Preferences(user_id=user, categories=categories), None)
    found = devices.preferences_many([*users, "nobody"])
    assert sorted(found) == users  # "nobody" never chose: left out
    assert all(found[user] == devices.preferences(user) for user in users)
