"""Profile item encoding, and DynamoDB's billed item size (what write units are counted on)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from nudge.adapters.dynamo_codec import (
    attribute_size,
    due_bucket,
    item_size,
    item_to_profile,
    profile_to_item,
    write_units,
)
from nudge.clock import to_epoch
from nudge.domain.config import EngagementConfig
from nudge.domain.profiles.aggregates import apply_events
from nudge.domain.profiles.lifecycle import evaluate
from nudge.models.profile import Profile
from tests.conftest import START, make_event


@pytest.mark.parametrize(
    ("value", "size"),
    [
        ({"S": "abc"}, 3),
        ({"S": "é"}, 2),
        ({"N": "0"}, 2),
        ({"N": "123"}, 3),
        ({"N": "-12.5"}, 3),
        ({"N": "1795431601"}, 6),
        ({"BOOL": True}, 1),
        ({"NULL": True}, 1),
        ({"M": {"a": {"S": "x"}}}, 6),
        ({"L": [{"S": "x"}, {"S": "y"}]}, 7),
    ],
)
def test_attribute_sizes(value: dict[str, object], size: int) -> None:
    assert attribute_size(value) == size


def test_write_units_round_up_per_kilobyte() -> None:
    assert write_units({"k": {"S": "x"}}) == 1
    assert write_units({"k": {"S": "x" * 1023}}) == 1
    assert write_units({"k": {"S": "x" * 1024}}) == 2


def typical_profile() -> Profile:
    """Active every other day for a month, three kinds of event, one session at a time."""
    config = EngagementConfig()
    profile = Profile(user_id="3f2b9c1e-6a7d-4e21-9a0b-7c5d2e8f1a44")
    for day in range(30, -1, -2):
        session = START - timedelta(days=day)
        events = [
            make_event(name, session + timedelta(minutes=m), amount=12.5)
            for m, name in enumerate(["session_start", "screen_view", "screen_view", "purchase"])
        ]
        profile = apply_events(profile, events, config, to_epoch(session))
        profile = evaluate(profile, to_epoch(session), config.lifecycle, "event")[0]
    return profile


def test_round_trip() -> None:
    profile = typical_profile()
    assert item_to_profile(profile_to_item(profile, 4)) == profile


def test_typical_profile_fits_in_one_write_unit() -> None:
    item = profile_to_item(typical_profile(), 4)
    assert item_size(item) <= 1024, item_size(item)


def test_due_bucket_is_hour_and_stable_shard() -> None:
    bucket = due_bucket(7200, "ann", 4)
    hour, shard = bucket.split("#")
    assert hour == "2" and 0 <= int(shard) < 4
    assert due_bucket(7200, "ann", 4) == bucket
    assert {due_bucket(7200, f"user{i}", 4).split("#")[1] for i in range(100)} == {
        "0",
        "1",
        "2",
        "3",
    }


def test_profile_without_due_has_no_index_key() -> None:
    item = profile_to_item(Profile(user_id="u"), 4)
    assert "due_bucket" not in item and "due_at" not in item


def test_tombstone_expires() -> None:
    item = profile_to_item(Profile(user_id="u", erased_at=100), 4)
    assert int(item["expires_at"]["N"]) > 100
