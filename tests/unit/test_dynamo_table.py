"""DynamoTable's helpers: attribute values through boto3's serializer, batch calls whose
leftovers are retried with jittered exponential backoff, and the packed profile's format."""

from __future__ import annotations

import json
import zlib
from decimal import Decimal
from typing import Any

import pytest

from nudge.adapters.dynamo_codec import (
    AGG_FORMAT,
    item_to_profile,
    profile_to_item,
    write_units,
)
from nudge.adapters.dynamo_table import Backoff, DynamoTable
from nudge.adapters.metering import WriteMeter
from nudge.models.profile import NameCounts, Profile
from tests.unit.test_dynamo_codec import typical_profile

# ---- attribute values ----


def test_key_and_values() -> None:
    assert DynamoTable.key(pk="a", sk="b") == {"pk": {"S": "a"}, "sk": {"S": "b"}}
    assert DynamoTable.values(rev=3, h="x") == {":rev": {"N": "3"}, ":h": {"S": "x"}}
    assert DynamoTable.values(p=None) == {}  # an optional value is left out


@pytest.mark.parametrize(
    ("value", "attribute"),
    [
        ("abc", {"S": "abc"}),
        (0, {"N": "0"}),
        (-12, {"N": "-12"}),
        (1795431601, {"N": "1795431601"}),
        (2**31, {"N": "2147483648"}),
        (12.5, {"N": "12.5"}),
        (0.1, {"N": "0.1"}),
        (True, {"BOOL": True}),
        (b"\x00\xff", {"B": b"\x00\xff"}),
        ({"b", "a"}, {"SS": ["a", "b"]}),
        ({3, 1, 2}, {"NS": ["1", "2", "3"]}),
        ({b"y", b"x"}, {"BS": [b"x", b"y"]}),
        ([1, "x", [True]], {"L": [{"N": "1"}, {"S": "x"}, {"L": [{"BOOL": True}]}]}),
        (
            {"m": {"n": 1.5, "s": {"a"}}, "e": {}},
            {"M": {"m": {"M": {"n": {"N": "1.5"}, "s": {"SS": ["a"]}}}, "e": {"M": {}}}},
        ),
    ],
)
def test_serializer_round_trip(value: Any, attribute: dict[str, Any]) -> None:
    item = DynamoTable.to_item({"x": value})
    assert item == {"x": attribute}
    assert DynamoTable.from_item(item) == {"x": value}


def test_numbers_come_back_as_int_or_float_never_decimal() -> None:
    values = DynamoTable.from_item(
        {"i": {"N": "7"}, "f": {"N": "2.25"}, "big": {"N": "12345678901234567890"}}
    )
    assert values == {"i": 7, "f": 2.25, "big": 12345678901234567890}
    assert type(values["i"]) is int and type(values["f"]) is float
    nested = DynamoTable.from_item({"m": {"M": {"l": {"L": [{"N": "1"}]}, "s": {"NS": ["2"]}}}})
    assert nested == {"m": {"l": [1], "s": {2}}}
    assert not any(isinstance(v, Decimal) for v in nested["m"]["l"])


def test_binary_comes_back_as_bytes() -> None:
    values = DynamoTable.from_item({"b": {"B": b"ab"}, "bs": {"BS": [b"c"]}})
    assert values == {"b": b"ab", "bs": {b"c"}}
    assert type(values["b"]) is bytes


def test_none_is_left_out_of_items() -> None:
    assert DynamoTable.to_item({"a": "x", "gone": None}) == {"a": {"S": "x"}}


# ---- batch calls: leftovers retried with backoff ----


class StubClient:
    """BatchWriteItem / BatchGetItem leaving the first `leftover_calls` answers' last request
    unprocessed."""

    def __init__(self, table: str, leftover_calls: int) -> None:
        self.table = table
        self.leftover_calls = leftover_calls
        self.requests: list[dict[str, Any]] = []

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(RequestItems)
        writes = RequestItems[self.table]
        if len(self.requests) <= self.leftover_calls:
            return {"UnprocessedItems": {self.table: writes[-1:]}}
        return {"UnprocessedItems": {}}

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.requests.append(RequestItems)
        request = RequestItems[self.table]
        keys = request["Keys"]
        if len(self.requests) <= self.leftover_calls:
            done, left = keys[:-1], keys[-1:]
            return {
                "Responses": {self.table: [dict(k) for k in done]},
                "UnprocessedKeys": {self.table: {**request, "Keys": left}},
            }
        return {"Responses": {self.table: [dict(k) for k in keys]}, "UnprocessedKeys": {}}


def table_with(stub: StubClient, sleeps: list[float], jitter: float = 1.0) -> DynamoTable:
    backoff = Backoff(
        attempts=5, base_s=0.05, cap_s=0.3, sleep=sleeps.append, random=lambda: jitter
    )
    return DynamoTable(stub.table, WriteMeter(), stub, backoff=backoff)


def puts(n: int) -> list[dict[str, Any]]:
    return [{"PutRequest": {"Item": DynamoTable.key(pk=f"u{i}")}} for i in range(n)]


def test_batch_write_retries_leftovers_until_done() -> None:
    stub = StubClient("T", leftover_calls=3)
    sleeps: list[float] = []
    table_with(stub, sleeps).batch_write(puts(3))
    assert len(stub.requests) == 4
    assert [len(r["T"]) for r in stub.requests] == [3, 1, 1, 1]  # only what was left over
    assert sleeps == [0.05, 0.1, 0.2]  # exponential (jitter at its top here)


def test_backoff_is_capped_and_jittered_within_bounds() -> None:
    stub = StubClient("T", leftover_calls=4)
    sleeps: list[float] = []
    table_with(stub, sleeps).batch_write(puts(2))
    assert sleeps == [0.05, 0.1, 0.2, 0.3]  # capped at cap_s
    stub = StubClient("T", leftover_calls=4)
    sleeps = []
    table_with(stub, sleeps, jitter=0.5).batch_write(puts(2))
    assert sleeps == [0.025, 0.05, 0.1, 0.15]  # full jitter: a fraction of the ceiling
    backoff = Backoff()
    delays = [backoff.delay(retry) for retry in range(12) for _ in range(50)]
    assert all(0 <= d <= 1.0 for d in delays)
    assert len(set(delays)) > 100  # drawn, not fixed


def test_batch_write_raises_after_the_last_attempt() -> None:
    stub = StubClient("T", leftover_calls=99)
    sleeps: list[float] = []
    with pytest.raises(RuntimeError, match="1 writes unprocessed after 5 attempts"):
        table_with(stub, sleeps).batch_write(puts(2))
    assert len(stub.requests) == 5 and len(sleeps) == 4


def test_batch_write_chunks_of_25() -> None:
    stub = StubClient("T", leftover_calls=0)
    sleeps: list[float] = []
    table_with(stub, sleeps).batch_write(puts(60))
    assert [len(r["T"]) for r in stub.requests] == [25, 25, 10] and sleeps == []


def test_batch_get_retries_unprocessed_keys() -> None:
    stub = StubClient("T", leftover_calls=2)
    sleeps: list[float] = []
    keys = [DynamoTable.key(pk=f"u{i}") for i in range(150)]
    found = table_with(stub, sleeps).batch_get(keys, consistent=True, projection="pk")
    assert sorted(i["pk"]["S"] for i in found) == sorted(k["pk"]["S"] for k in keys)
    assert [len(r["T"]["Keys"]) for r in stub.requests] == [100, 1, 1, 50]
    assert all(r["T"]["ConsistentRead"] and r["T"]["ProjectionExpression"] for r in stub.requests)
    assert sleeps == [0.05, 0.1]


def test_batch_get_raises_after_the_last_attempt() -> None:
    stub = StubClient("T", leftover_calls=99)
    sleeps: list[float] = []
    with pytest.raises(RuntimeError, match="1 reads unprocessed"):
        table_with(stub, sleeps).batch_get([DynamoTable.key(pk="a"), DynamoTable.key(pk="b")])


# ---- the packed profile's format version ----


def test_packed_profile_carries_its_format() -> None:
    item = profile_to_item(typical_profile(), 4)
    assert json.loads(_agg_text(item))["f"] == AGG_FORMAT == 1


def _agg_text(item: dict[str, Any]) -> str:
    return zlib.decompress(item["agz"]["B"]).decode() if "agz" in item else item["agg"]["S"]


def test_an_active_users_profile_is_compressed_below_one_write_unit() -> None:
    """Issue 23: a month of daily activity in many event names is over 1 KB as JSON (two write
    units a save); compressed it is one."""
    profile = typical_profile()
    for day in range(30):
        for n, name in enumerate(["screen_view", "search", "cart", "purchase", "share", "open"]):
            counts = profile.counts.setdefault(name, NameCounts())
            counts.days[20_000 + day] = n + day
            counts.total += n + day
    item = profile_to_item(profile, 4)
    text = _agg_text(item)
    assert len(text) > 1024 and "agz" in item and write_units(item) == 1
    assert item_to_profile(item) == profile


def test_a_small_profile_stays_readable_text() -> None:
    item = profile_to_item(Profile(user_id="ann", first_seen=1, last_seen=1), 4)
    assert "agg" in item and "agz" not in item


def test_an_item_written_before_the_marker_still_reads() -> None:
    """What today's deployed tables hold: 'agg' without 'f' reads as format 1."""
    profile = typical_profile()
    item = profile_to_item(profile, 4)
    agg = json.loads(_agg_text(item))
    del agg["f"]
    item.pop("agz", None)
    unmarked = {**item, "agg": {"S": json.dumps(agg, separators=(",", ":"))}}
    assert item_to_profile(unmarked) == profile


def test_an_item_written_by_the_code_before_this_change_reads() -> None:
    """A literal item as the previous codec wrote it (no marker, hand-typed attributes)."""
    item = {
        "user_id": {"S": "ann"},
        "v": {"N": "3"},
        "agg": {"S": '{"b":20000,"a":"0:1,2:1","c":{"open":[2,1728000000,"0:1,2:1"]}}'},
        "first_seen": {"N": "1727827200"},
        "last_seen": {"N": "1728000000"},
        "stage": {"S": "active"},
    }
    profile = item_to_profile(item)
    assert (profile.user_id, profile.version, profile.stage) == ("ann", 3, "active")
    assert profile.active_days == {20000: 1, 19998: 1}
    assert profile.counts["open"].total == 2
    assert profile_to_item(profile, 4)["v"] == {"N": "3"}


def test_an_unknown_format_fails_loudly() -> None:
    item = profile_to_item(typical_profile(), 4)
    agg = json.loads(_agg_text(item)) | {"f": 99}
    item.pop("agz", None)
    with pytest.raises(ValueError, match="unknown packed profile format 99"):
        item_to_profile({**item, "agg": {"S": json.dumps(agg)}})
    compressed = {**item, "agz": {"B": zlib.compress(json.dumps(agg).encode())}}
    with pytest.raises(ValueError, match="unknown packed profile format 99"):
        item_to_profile(compressed)


def test_the_marker_costs_six_bytes_and_no_write_unit_for_a_typical_profile() -> None:
    item = profile_to_item(typical_profile(), 4)
    marked = _agg_text(item)
    agg = json.loads(marked)
    del agg["f"]
    assert len(marked) - len(json.dumps(agg, separators=(",", ":"))) == len('"f":1,')
    assert write_units(item) == 1
