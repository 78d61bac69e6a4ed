"""ProfileStore (and the ProfileSampler over the same table): fake vs DynamoDB adapter."""

from __future__ import annotations

from typing import Any

import pytest

from nudge.adapters.dynamo_codec import due_bucket
from nudge.adapters.dynamodb import DynamoProfileStore
from nudge.adapters.metering import WriteMeter
from nudge.adapters.profile_sample import DynamoProfileSampler
from nudge.models.profile import Profile, Stage
from nudge.models.stats import StageChange
from tests.conftest import START
from tests.fakes.memory import InMemoryProfileStore
from tests.fakes.profile_sample import InMemoryProfileSampler

pytestmark = pytest.mark.integration
NOW = int(START.timestamp())
DAY = NOW // 86_400


def fake() -> InMemoryProfileStore:
    return InMemoryProfileStore()


def adapter(ddb: Any) -> DynamoProfileStore:
    return DynamoProfileStore("ProfilesTable", WriteMeter(), ddb)


def profile(user: str, version: int = 1, **fields: Any) -> Profile:
    return Profile(user_id=user, version=version, **{"first_seen": NOW, "last_seen": NOW, **fields})


def test_create_if_absent(store) -> None:  # type: ignore[no-untyped-def]
    ann = profile("ann")
    assert store.get("ann") is None
    assert store.save(ann, None, 1)
    assert not store.save(profile("ann", last_seen=NOW + 5), None, 1)  # someone created it
    assert store.get("ann") == ann


def test_optimistic_version_check(store) -> None:  # type: ignore[no-untyped-def]
    v1 = profile("ann")
    assert not store.save(profile("ann", 2), v1, 1)  # read as v1, but nothing is stored
    assert store.get("ann") is None
    assert store.save(v1, None, 1)
    v2 = profile("ann", 2, last_seen=NOW + 60)
    assert store.save(v2, v1, 1)
    assert not store.save(profile("ann", 3), v1, 1)  # a stale read loses
    assert store.get("ann") == v2
    assert store.save(profile("ann", 3), v2, 1)
    assert store.get("ann").version == 3


def test_reads_return_copies(store) -> None:  # type: ignore[no-untyped-def]
    ann = profile("ann")
    store.save(ann, None, 1)
    read = store.get("ann")
    read.last_seen = NOW + 999  # mutating what was read changes nothing stored
    assert store.get("ann") == ann


def test_stage_counters_move_once_with_the_save(store) -> None:  # type: ignore[no-untyped-def]
    new = profile("ann", stage=Stage.NEW)
    arrival = StageChange(None, Stage.NEW, NOW)
    assert store.save(new, None, 1, arrival)
    assert not store.save(new, None, 1, arrival)  # the conflict moves nothing
    at_risk = profile("ann", 2, stage=Stage.AT_RISK)
    assert store.save(at_risk, new, 1, StageChange(Stage.NEW, Stage.AT_RISK, NOW))
    assert not store.save(at_risk, new, 1, StageChange(Stage.NEW, Stage.AT_RISK, NOW))
    store.save(profile("bob", stage=Stage.NEW), None, 1, StageChange(None, Stage.NEW, NOW))
    counts = store.lifecycle_counts(DAY, DAY)
    assert counts.stages == {"new": 1, "at_risk": 1}
    assert counts.moves == {"new>at_risk": 1}
    assert store.lifecycle_counts(DAY + 1, DAY + 3).moves == {}  # moves are per day
    assert store.lifecycle_counts(DAY - 2, DAY + 3).moves == {"new>at_risk": 1}


def test_an_erasure_leaves_its_stage(store) -> None:  # type: ignore[no-untyped-def]
    ann = profile("ann", stage=Stage.ACTIVE)
    store.save(ann, None, 1, StageChange(None, Stage.ACTIVE, NOW))
    gone = Profile(user_id="ann", version=2, erased_at=NOW)
    assert store.save(gone, ann, 1, StageChange(Stage.ACTIVE, None, NOW))
    counts = store.lifecycle_counts(DAY, DAY)
    assert counts.stages == {"active": 0}
    assert counts.moves == {}  # neither an arrival nor an erasure is a move


def test_a_change_to_the_same_stage_moves_no_stage_count(store) -> None:  # type: ignore[no-untyped-def]
    ann = profile("ann", stage=Stage.ACTIVE)
    assert store.save(ann, None, 1, StageChange(Stage.ACTIVE, Stage.ACTIVE, NOW))
    counts = store.lifecycle_counts(DAY, DAY)
    assert counts.stages == {}
    assert counts.moves == {"active>active": 1}


def test_named_counters_move_once_with_the_save(store) -> None:  # type: ignore[no-untyped-def]
    day = f"campaign#c1#{DAY}"
    assert store.save(profile("ann"), None, 1, counters={day: {"sent": 1, "opened": 0}})
    assert not store.save(profile("ann"), None, 1, counters={day: {"sent": 1}})  # conflict
    assert store.save(profile("bob"), None, 1, counters={day: {"sent": 1, "failed": 2}})
    assert store.save(profile("cy"), None, 1, counters={"other": {"sent": 0}})  # zero: nothing
    assert store.counters([day, "other", "nothing"]) == {day: {"sent": 2, "failed": 2}}
    assert store.counters([]) == {}


def test_get_latest_and_get_many(store) -> None:  # type: ignore[no-untyped-def]
    ann = profile("ann")
    tombstone = Profile(user_id="bob", version=3, erased_at=NOW)
    assert store.save(ann, None, 1) and store.save(tombstone, None, 1)
    assert store.get_latest(["ann", "bob", "nobody", "ann"]) == {"ann": ann, "bob": tombstone}
    assert store.get_many(["ann", "bob", "nobody"]) == {"ann": ann}  # tombstones left out
    many = [f"u{i:03d}" for i in range(130)]  # more than one BatchGetItem holds
    for user in many:
        store.save(profile(user), None, 1)
    assert sorted(store.get_latest(many)) == many
    assert sorted(store.get_many([*many, *many])) == many


def test_delete(store) -> None:  # type: ignore[no-untyped-def]
    store.save(profile("ann"), None, 1)
    store.save(profile("bob"), None, 1)
    assert store.delete("ann")
    assert not store.delete("ann")
    assert store.get("ann") is None
    assert store.get("bob") == profile("bob")
    assert store.save(profile("ann"), None, 1)  # created afresh


def test_due_buckets(store) -> None:  # type: ignore[no-untyped-def]
    due = (NOW // 3600 + 5) * 3600
    users = [f"u{i:02d}" for i in range(12)]
    for user in users:
        assert store.save(profile(user, due_at=due + 60), None, 3)
    store.save(profile("idle"), None, 3)  # nothing due: not indexed
    found = [u for shard in range(3) for u in store.due_users(f"{due // 3600}#{shard}")]
    assert sorted(found) == users  # each user in exactly one shard
    for user in users:
        assert user in store.due_users(due_bucket(due, user, 3))
    # a new due time moves the user to the new bucket and out of the old one
    moved = profile("u00", 2, due_at=due + 7200)
    assert store.save(moved, profile("u00", due_at=due + 60), 3)
    assert "u00" not in store.due_users(due_bucket(due, "u00", 3))
    assert "u00" in store.due_users(due_bucket(due + 7200, "u00", 3))
    cleared = profile("u01", 2)
    assert store.save(cleared, profile("u01", due_at=due + 60), 3)
    assert "u01" not in store.due_users(due_bucket(due, "u01", 3))
    assert store.due_users("0#0") == []


def test_due_bucket_is_per_save(store) -> None:  # type: ignore[no-untyped-def]
    """A profile's bucket is computed with the shard count of its own save."""
    due = (NOW // 3600 + 5) * 3600
    # users whose bucket with 4 shards is not shard 0 (their bucket with 1 shard)
    ann, bob = [
        u for u in (f"u{i}" for i in range(40)) if not due_bucket(due, u, 4).endswith("#0")
    ][:2]
    store.save(profile(ann, due_at=due), None, 1)
    store.save(profile(bob, due_at=due), None, 4)  # a later save with more shards
    assert store.due_users(due_bucket(due, ann, 1)) == [ann]
    assert store.due_users(due_bucket(due, bob, 4)) == [bob]
    assert store.due_users(due_bucket(due, ann, 4)) == []


def test_cursors(store) -> None:  # type: ignore[no-untyped-def]
    assert store.get_cursor("scheduler") is None
    store.set_cursor("scheduler", 42)
    store.set_cursor("scheduler", 41)  # unconditional: last write wins
    store.set_cursor("other", 7)
    assert store.get_cursor("scheduler") == 41
    assert store.get_cursor("other") == 7
    assert store.get("scheduler") is None  # a cursor is no profile


def test_the_sampler_sees_every_profile_once(backend, request) -> None:  # type: ignore[no-untyped-def]
    profiles = [profile(f"u{i:02d}", stage=Stage.ACTIVE if i % 2 else Stage.NEW) for i in range(23)]
    tombstone = Profile(user_id="gone", version=2, erased_at=NOW)
    if backend == "fake":
        sampler: Any = InMemoryProfileSampler([*profiles, tombstone])
    else:
        ddb = request.getfixturevalue("tables").ddb
        sampler = DynamoProfileSampler("ProfilesTable", WriteMeter(), ddb)
        for p in profiles:
            sampler.save(p, None, 1, StageChange(None, p.stage, NOW), {"c": {"n": 1}})
        sampler.save(tombstone, None, 1)
        sampler.set_cursor("scheduler", 1)
    assert sampler.user_count() == 23
    for total in (1, 4):
        seen = [p for segment in range(total) for p in sampler.scan_segment(segment, total)]
        assert sorted(p.user_id for p in seen) == sorted(p.user_id for p in profiles)
        assert sorted(seen, key=lambda p: p.user_id) == profiles
