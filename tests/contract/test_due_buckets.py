"""DueBuckets: fake vs DynamoDB adapter (the scheduler's done marks and bucket counts)."""

from __future__ import annotations

from typing import Any

import pytest

from nudge.adapters.dynamodb import DynamoProfileStore
from nudge.adapters.metering import WriteMeter
from nudge.adapters.scheduler import DynamoDueBuckets
from nudge.models.profile import Profile
from tests.fakes.memory import InMemoryProfileStore
from tests.fakes.scheduler import InMemoryDueBuckets

pytestmark = pytest.mark.integration
SHARDS = 4
HOUR = 3_600


def fake() -> tuple[InMemoryProfileStore, InMemoryDueBuckets]:
    profiles = InMemoryProfileStore()
    return profiles, InMemoryDueBuckets(profiles)


def adapter(ddb: Any) -> tuple[DynamoProfileStore, DynamoDueBuckets]:
    meter = WriteMeter()
    return DynamoProfileStore("ProfilesTable", meter, ddb), DynamoDueBuckets(
        "ProfilesTable", meter, ddb
    )


def test_done_marks_are_read_back_for_the_buckets_asked(store) -> None:  # type: ignore[no-untyped-def]
    _, buckets = store
    assert buckets.done(["100#0", "100#1"]) == set()
    buckets.mark_done("100#1", 1_800_000_000)
    buckets.mark_done("100#1", 1_800_000_000)  # a redelivered consumer marks it again
    buckets.mark_done("101#3", 1_800_000_000)
    asked = [f"{hour}#{shard}" for hour in (100, 101) for shard in range(SHARDS)]
    assert buckets.done([*asked, "100#1"]) == {"100#1", "101#3"}
    many = [f"{hour}#{shard}" for hour in range(100, 160) for shard in range(SHARDS)]
    assert buckets.done(many) == {"100#1", "101#3"}  # more than one BatchGetItem's 100 keys


def test_a_bucket_counts_the_profiles_due_in_it(store) -> None:  # type: ignore[no-untyped-def]
    profiles, buckets = store
    due_at = 200 * HOUR + 1_800
    saved = [Profile(user_id=f"u{n}", due_at=due_at, version=1) for n in range(12)]
    for profile in saved:
        assert profiles.save(profile, None, SHARDS)
    counts = {f"200#{s}": buckets.count(f"200#{s}", 1_000) for s in range(SHARDS)}
    assert counts == {b: len(profiles.due_users(b)) for b in counts}
    assert sum(counts.values()) == 12
    (ann, *_) = saved
    (bucket,) = [b for b in counts if ann.user_id in profiles.due_users(b)]
    moved = ann.model_copy(update={"due_at": None, "version": 2})
    assert profiles.save(moved, ann, SHARDS)
    assert buckets.count(bucket, 1_000) == counts[bucket] - 1
    # a done mark is no profile: it never shows in the due-index
    buckets.mark_done(bucket, 1_800_000_000)
    assert buckets.count(bucket, 1_000) == counts[bucket] - 1
