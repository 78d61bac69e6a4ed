"""BreakdownCounters: the response cells written with a profile save (fake vs DynamoDB).

The cells ride in the save's counters, so a save that loses its version check counts
nothing; a period is read back summed per (dimension, value)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from nudge.adapters.breakdown import DynamoBreakdownCounters
from nudge.adapters.dynamodb import DynamoProfileStore
from nudge.adapters.metering import WriteMeter
from nudge.clock import day_key
from nudge.domain.engagement.breakdown import ResponseCell, counter_name, increments
from nudge.models.profile import Profile
from tests.conftest import START
from tests.fakes.breakdown import InMemoryBreakdownCounters
from tests.fakes.memory import InMemoryProfileStore

pytestmark = pytest.mark.integration
NOW = int(START.timestamp())
DAY = 86_400
NL = ResponseCell("NL", "Noord-Holland", "Haarlem", "active", "ios", ("commuters",)).key()
BE = ResponseCell("BE", "", "", "new", "android").key()


def fake() -> Any:
    profiles = InMemoryProfileStore()
    return SimpleNamespace(profiles=profiles, cells=InMemoryBreakdownCounters(profiles))


def adapter(ddb: Any) -> Any:
    profiles = DynamoProfileStore("ProfilesTable", WriteMeter(), ddb)
    profiles.cells_table = "HistoryTable"
    return SimpleNamespace(
        profiles=profiles, cells=DynamoBreakdownCounters("HistoryTable", ddb=ddb)
    )


def save(store: Any, user: str, counters: dict[str, dict[str, int]], previous: Any = None) -> bool:
    version = previous.version + 1 if previous else 1
    profile = Profile(user_id=user, version=version, first_seen=NOW)
    return bool(store.profiles.save(profile, previous, 1, None, counters))


def test_cells_are_summed_per_dimension_over_the_period(store) -> None:  # type: ignore[no-untyped-def]
    assert save(store, "ann", {counter_name("trip", NOW, NL): increments(NL, "sent")})
    assert save(store, "bob", {counter_name("trip", NOW, NL): increments(NL, "sent")})
    assert save(
        store,
        "cid",
        {
            counter_name("trip", NOW + DAY, NL): increments(NL, "opened"),
            counter_name("trip", NOW + DAY, BE): increments(BE, "sent"),
            counter_name("other", NOW, BE): increments(BE, "sent"),
        },
    )
    cells = store.cells.cells(["trip"], day_key(NOW), day_key(NOW + DAY))
    assert cells[("country", "NL")] == {"sent": 2, "opened": 1}
    assert cells[("country", "BE")] == {"sent": 1}
    assert cells[("region", "unknown")] == {"sent": 1}
    assert cells[("segment", "commuters")] == {"sent": 2, "opened": 1}
    assert cells[("platform", "ios")] == {"sent": 2, "opened": 1}
    # one day only, and two campaigns summed
    first_day = store.cells.cells(["trip", "other"], day_key(NOW), day_key(NOW))
    assert first_day[("country", "BE")] == {"sent": 1}
    assert first_day[("country", "NL")] == {"sent": 2}
    assert store.cells.cells(["trip"], day_key(NOW + 2 * DAY), day_key(NOW + 3 * DAY)) == {}


def test_a_save_that_loses_its_version_check_counts_nothing(store) -> None:  # type: ignore[no-untyped-def]
    assert save(store, "ann", {counter_name("trip", NOW, NL): increments(NL, "sent")})
    stale = Profile(user_id="ann", version=5)
    assert not save(store, "ann", {counter_name("trip", NOW, NL): increments(NL, "sent")}, stale)
    cells = store.cells.cells(["trip"], day_key(NOW), day_key(NOW))
    assert cells[("country", "NL")] == {"sent": 1}


def test_a_cell_with_every_metric_and_eight_segments_stays_under_one_kb(
    store: Any, backend: str
) -> None:
    segments = tuple(f"segment-{i:02d}-name" for i in range(8))  # 15 characters each
    cell = ResponseCell("NL", "Noord-Holland", "Amsterdam", "reactivated", "android", segments)
    deltas: dict[str, int] = {}
    for metric in ("sent", "holdout", "opened", "converted", "holdout_converted", "opt_out"):
        deltas.update({field: 12_345 for field in increments(cell.key(), metric)})
    assert save(store, "ann", {counter_name("station-departures", NOW, cell.key()): deltas})
    found = store.cells.cells(["station-departures"], day_key(NOW), day_key(NOW))
    assert found[("segment", "segment-07-name")]["opt_out"] == 12_345
    assert found[("country", "NL")]["holdout_converted"] == 12_345
    if backend == "dynamo":
        from nudge.adapters.dynamo_codec import write_units

        (item,) = store.profiles.ddb.scan(TableName="HistoryTable")["Items"]
        assert write_units(item) == 1  # one write unit: under 1 KB
