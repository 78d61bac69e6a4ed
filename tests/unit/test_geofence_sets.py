"""Fence sets as versioned configs, and the FenceCatalog: in-memory fakes, injected clock."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from nudge.adapters.geofences import StoredFenceCatalog
from nudge.clock import ManualClock
from nudge.domain.geofencing import build_index, parse_geojson
from nudge.domain.geofencing.packing import published_key, unpack_fence_set
from nudge.services.configs.store import ConfigStore
from nudge.services.geofencing.fence_sets import FenceSetService
from tests.fakes.memory import InMemoryConfigTable, InMemoryFenceCatalog, InMemoryFenceObjects


def feature(fid: str, lng: float, lat: float, radius: float = 200, **props: Any) -> dict:
    return {
        "type": "Feature",
        "id": fid,
        "geometry": {"type": "Point", "coordinates": [lng, lat]},
        "properties": {"name": fid.title(), "radius_m": radius, "tags": ["train_station"], **props},
    }


def geojson(*features: dict, name: str | None = "Stations") -> str:
    return json.dumps({"type": "FeatureCollection", "name": name, "features": list(features)})


CENTRAAL = feature("centraal", 4.9003, 52.3791)
ZUID = feature("zuid", 4.873, 52.3389)
UTRECHT = feature("utrecht", 5.1104, 52.0894)


class Setup:
    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.table = InMemoryConfigTable()
        self.store = ConfigStore(self.table, clock, 30.0)
        self.objects = InMemoryFenceObjects()
        self.service = FenceSetService(self.store, self.objects, clock)
        self.builds: list[list[str]] = []

        def builder(sets: Any) -> Any:
            sets = list(sets)
            self.builds.append([f"{s.id}@{s.version}" for s in sets])
            return build_index(sets)

        self.catalog = StoredFenceCatalog(self.store, self.objects, clock, 30.0, builder)

    def load(self, key: str, text: str, version_id: str = "v") -> Any:
        return self.service.load_object(key, text.encode(), version_id)


@pytest.fixture
def setup(clock: ManualClock) -> Setup:
    return Setup(clock)


def test_publish_stores_the_normalized_set_in_objects_and_a_small_version(setup: Setup) -> None:
    outcome = setup.load("geofences/stations.geojson", geojson(CENTRAAL, ZUID))
    assert (outcome.result, outcome.version) == ("loaded", 1)
    head = setup.store.head("geofences", "stations")
    assert head is not None and head.status == "active"
    assert head.model["fences"] == 2 and head.model["format"] == "geojson"
    assert head.model["object"] == published_key("stations", head.sha256)
    stored = unpack_fence_set(setup.objects.objects[head.model["object"]])
    assert [f.id for f in stored.fences] == ["centraal", "zuid"]
    assert stored.content_hash == head.sha256
    (version,) = setup.store.versions("geofences", "stations")
    assert version.text == "" and version.source == "geofences/stations.geojson"


def test_identical_content_is_a_no_op_whatever_the_format(setup: Setup) -> None:
    setup.load("geofences/stations.geojson", geojson(CENTRAAL, name=None))
    again = setup.load("geofences/stations.geojson", geojson(CENTRAAL, name=None) + "\n")
    assert (again.result, again.version) == ("unchanged", 1)
    csv = "id,name,lat,lng,radius_m,tags\ncentraal,Centraal,52.3791,4.9003,200,train_station\n"
    as_csv = setup.service.publish("stations", csv, "csv", "stations.csv")[0]
    assert (as_csv.created, as_csv.version) == (False, 1)
    assert len(setup.objects.objects) == 1
    changed = setup.load("geofences/stations.geojson", geojson(CENTRAAL, ZUID, name=None))
    assert (changed.result, changed.version) == ("loaded", 2)
    assert len(setup.objects.objects) == 2  # content-addressed: v1's object stays


def test_a_bad_file_is_recorded_with_located_errors_and_the_previous_version_stays(
    setup: Setup,
) -> None:
    setup.load("geofences/stations.geojson", geojson(CENTRAAL))
    bad = feature("zuid", 4.873, 52.3389)
    del bad["properties"]["radius_m"]
    outcome = setup.load(
        "geofences/stations.geojson", geojson(CENTRAAL, bad, UTRECHT | {"id": "centraal"})
    )
    assert outcome.result == "rejected"
    messages = [str(p) for p in outcome.problems or []]
    assert any("features.1.properties.radius_m" in m for m in messages), messages
    assert any("features.2.id" in m and "already used" in m for m in messages), messages
    (row,) = setup.service.list_sets()
    assert (row["id"], row["status"], row["version"], row["fences"]) == (
        "stations",
        "active",
        1,
        1,
    )
    assert row["errors"][0]["source"] == "geofences/stations.geojson"
    assert row["errors"][0]["field"].startswith("features.1")
    # a good upload clears the errors
    setup.load("geofences/stations.geojson", geojson(CENTRAAL, ZUID))
    (row,) = setup.service.list_sets()
    assert row["errors"] == [] and row["version"] == 2


def test_csv_errors_name_the_line_and_a_never_loaded_set_is_listed(setup: Setup) -> None:
    text = "id,name,lat,lng,radius_m\na,A,52.1,4.3,200\nb,B,north,4.3,200\n"
    outcome = setup.load("geofences/shops.csv", text)
    assert outcome.result == "rejected"
    (problem,) = outcome.problems or []
    assert (problem.line, problem.field) == (3, "lat")
    (row,) = setup.service.list_sets()
    assert (row["id"], row["status"]) == ("shops", "not loaded")
    assert setup.load("geofences/Bad Name.csv", text.replace("north", "52.2")).result == "rejected"
    assert setup.service.load_object("campaigns/x.yaml", b"", None).result == "ignored"


def test_deleting_the_file_archives_unless_the_other_format_is_live(setup: Setup) -> None:
    setup.load("geofences/stations.geojson", geojson(CENTRAAL))
    assert setup.service.object_removed("geofences/stations.csv").result == "ignored"
    assert setup.store.head("geofences", "stations").status == "active"  # type: ignore[union-attr]
    assert setup.service.object_removed("geofences/stations.geojson").result == "archived"
    head = setup.store.head("geofences", "stations")
    assert head is not None and (head.status, head.deleted) == ("archived", True)
    # uploading the same file again brings it back
    assert setup.load("geofences/stations.geojson", geojson(CENTRAAL)).result == "unchanged"
    assert setup.store.head("geofences", "stations").status == "active"  # type: ignore[union-attr]


def test_catalog_is_none_until_a_set_is_published(setup: Setup) -> None:
    assert setup.catalog.current_index() is None
    assert setup.builds == []


def test_catalog_caches_and_rebuilds_only_when_versions_change(
    setup: Setup, clock: ManualClock
) -> None:
    setup.load("geofences/stations.geojson", geojson(CENTRAAL, ZUID))
    index = setup.catalog.current_index()
    assert index is not None and len(index) == 2
    assert index.containing(52.3791, 4.9003)[0].key == "stations/centraal"
    assert index.sets["stations"][0] == 1
    # within the check period: not even the catalog is read
    clock.advance(timedelta(seconds=29))
    setup.load("geofences/stations.geojson", geojson(CENTRAAL, ZUID, UTRECHT))
    reads = setup.table.catalog_reads
    assert setup.catalog.current_index() is index
    assert setup.table.catalog_reads == reads
    # after it: the new version is seen and the index rebuilt
    clock.advance(timedelta(seconds=2))
    rebuilt = setup.catalog.current_index()
    assert rebuilt is not index and rebuilt is not None and len(rebuilt) == 3
    assert setup.builds == [["stations@1"], ["stations@2"]]
    # nothing changed: checked again, not rebuilt, no object read
    object_reads = setup.objects.reads
    clock.advance(timedelta(minutes=5))
    assert setup.catalog.current_index() is rebuilt
    assert len(setup.builds) == 2 and setup.objects.reads == object_reads
    # a second set: only its object is read; both are indexed
    setup.load("geofences/shops.csv", "id,name,lat,lng,radius_m\nhema,HEMA,52.37,4.89,50\n")
    clock.advance(timedelta(seconds=30))
    both = setup.catalog.current_index()
    assert both is not None and len(both) == 4 and setup.objects.reads == object_reads + 1
    # archiving a set drops it from the index; archiving all leaves none
    setup.service.set_status("shops", "archived")
    setup.service.set_status("stations", "archived")
    clock.advance(timedelta(seconds=30))
    assert setup.catalog.current_index() is None


def test_a_failed_rebuild_keeps_serving_the_previous_index(
    setup: Setup, clock: ManualClock
) -> None:
    setup.load("geofences/stations.geojson", geojson(CENTRAAL))
    index = setup.catalog.current_index()
    setup.load("geofences/stations.geojson", geojson(CENTRAAL, ZUID))
    head = setup.store.head("geofences", "stations")
    assert head is not None
    del setup.objects.objects[head.model["object"]]  # e.g. S3 unreachable or the object gone
    clock.advance(timedelta(seconds=30))
    assert setup.catalog.current_index() is index
    setup.load("geofences/stations.geojson", geojson(CENTRAAL, ZUID, UTRECHT))
    clock.advance(timedelta(seconds=30))
    recovered = setup.catalog.current_index()
    assert recovered is not None and len(recovered) == 3


def test_no_previous_index_and_a_failure_raises(setup: Setup) -> None:
    setup.load("geofences/stations.geojson", geojson(CENTRAAL))
    setup.objects.objects.clear()
    with pytest.raises(RuntimeError, match="missing"):
        setup.catalog.current_index()


def test_in_memory_fence_catalog() -> None:
    catalog = InMemoryFenceCatalog()
    assert catalog.current_index() is None
    catalog.publish([parse_geojson(geojson(CENTRAAL), source="t", set_id="stations")])
    index = catalog.current_index()
    assert index is not None and index.get("stations/centraal") is not None
