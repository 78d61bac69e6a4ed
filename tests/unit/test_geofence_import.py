"""Fence-set import: GeoJSON and CSV, every problem located (feature index and field)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nudge.configfiles import ConfigError
from nudge.domain.geofencing import build_index, load_fence_set_file, parse_csv, parse_geojson
from nudge.models.geofence import CircleGeometry, PolygonGeometry

SAMPLE = Path(__file__).resolve().parents[2] / "events" / "geofences" / "stations.geojson"


def point(fid: str = "a", lng: Any = 5.0, lat: Any = 52.0, **props: Any) -> dict[str, Any]:
    properties = {"name": f"Fence {fid}", "radius_m": 150, **props}
    return {
        "type": "Feature",
        "id": fid,
        "geometry": {"type": "Point", "coordinates": [lng, lat]},
        "properties": properties,
    }


def polygon(fid: str, rings: Any) -> dict[str, Any]:
    return {
        "type": "Feature",
        "id": fid,
        "geometry": {"type": "Polygon", "coordinates": rings},
        "properties": {"name": f"Fence {fid}", "tags": "train_station;hub"},
    }


SQUARE = [[[5.0, 52.0], [5.01, 52.0], [5.01, 52.01], [5.0, 52.01], [5.0, 52.0]]]


def collection(*features: Any) -> str:
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        parse_geojson(text, source="f.geojson", set_id="s")
    return [(p.field, p.message) for p in caught.value.problems]


def test_valid_points_and_polygons_load_with_tags_and_metadata() -> None:
    text = collection(point("a", country="NL", platforms=12), polygon("b", SQUARE))
    fence_set = parse_geojson(text, source="f.geojson", set_id="stations", version=3)
    a, b = fence_set.fences
    assert isinstance(a.geometry, CircleGeometry) and a.geometry.radius_m == 150
    assert a.metadata == {"country": "NL", "platforms": 12}
    assert isinstance(b.geometry, PolygonGeometry) and b.tags == ["hub", "train_station"]
    assert (fence_set.id, fence_set.version) == ("stations", 3)


def test_content_hash_ignores_id_and_version_but_not_content() -> None:
    text = collection(point("a"), polygon("b", SQUARE))
    one = parse_geojson(text, source="f", set_id="s", version=1)
    two = parse_geojson(text, source="f", set_id="other", version=7)
    moved = parse_geojson(
        collection(point("a", lat=52.001), polygon("b", SQUARE)), source="f", set_id="s"
    )
    assert one.content_hash == two.content_hash != moved.content_hash
    assert len(one.content_hash) == 64


@pytest.mark.parametrize(
    ("feature", "field", "fragment"),
    [
        (point(lat=91.0), "features.0.geometry.coordinates.1", "less than or equal to 90"),
        (point(lng=-180.5), "features.0.geometry.coordinates.0", "greater than or equal"),
        (point(lat=float("nan")), "features.0.geometry.coordinates.1", "finite number"),
        (point(radius_m=0), "features.0.properties.radius_m", "greater than or equal to 10"),
        (point(radius_m=5_000_000), "features.0.properties.radius_m", "less than or equal"),
        (point(radius_m=float("nan")), "features.0.properties.radius_m", "finite number"),
        (point(radius_m="big"), "features.0.properties.radius_m", "valid number"),
        (point(tags=["Train Station"]), "features.0.properties.tags.0", "pattern"),
        (point(extra={"nested": 1}), "features.0.properties.extra", "plain values"),
        (point(lng="5", lat=52), "features.0.geometry.coordinates", "[lng, lat]"),
    ],
)
def test_bad_feature_values_are_located(feature: Any, field: str, fragment: str) -> None:
    found = problems(collection(point("ok"), feature | {"id": "bad"}))
    assert len(found) == 1, found
    got_field, message = found[0]
    assert got_field == field.replace("features.0", "features.1")
    assert fragment in message


def test_nan_literal_in_the_file_is_rejected_at_its_field() -> None:
    text = collection(point("a")).replace("52.0", "NaN")
    assert problems(text) == [
        ("features.0.geometry.coordinates.1", "Input should be a finite number")
    ]


def test_self_intersecting_polygon_is_located() -> None:
    bowtie = [[[5.0, 52.0], [5.01, 52.01], [5.01, 52.0], [5.0, 52.01], [5.0, 52.0]]]
    ((field, message),) = problems(collection(point("a"), polygon("b", bowtie)))
    assert field == "features.1.geometry.coordinates"
    assert message.startswith("self-intersection near lng 5.005000, lat 52.005000")


@pytest.mark.parametrize(
    ("rings", "field", "fragment"),
    [
        ([[[5.0, 52.0], [5.01, 52.0], [5.0, 52.0]]], "geometry.coordinates", "at least 4"),
        (
            [[[5.0, 52.0], [5.01, 52.0], [5.01, 52.01], [5.0, 52.01]]],
            "geometry.coordinates",
            "closed",
        ),
        (
            [[[5.0, 52.0], [5.00001, 52.0], [5.00001, 52.00001], [5.0, 52.0]]],
            "geometry.coordinates",
            "too small",
        ),
        (
            [[[5.0, 52.0], [7.0, 52.0], [7.0, 53.0], [5.0, 52.0]]],
            "geometry.coordinates",
            "too large",
        ),
        (
            [[[5.0, 52.0], [5.01, 52.0], [5.01, 95.0], [5.0, 52.0]]],
            "geometry.coordinates.0.2.1",
            "less than",
        ),
        ([[[5.0, 52.0], [5.01, 52.0], [5.0, 52.0], [5.0, 52.0]]], "geometry.coordinates", ""),
        ([[[5.0, 86.0], [5.01, 86.0], [5.01, 86.01], [5.0, 86.0]]], "geometry.coordinates", "85"),
        ([[5.0, 52.0]], "geometry.coordinates.0.0", "a position must be"),
        ([5.0], "geometry.coordinates.0", "ring must be a list"),
        ([], "geometry.coordinates", "list of rings"),
    ],
)
def test_bad_polygons_are_located(rings: Any, field: str, fragment: str) -> None:
    ((got, message),) = problems(collection(polygon("p", rings)))
    assert got == f"features.0.{field}"
    assert fragment in message


@pytest.mark.parametrize(
    ("text", "field", "fragment"),
    [
        ("{not json", "", "not valid JSON"),
        ('{"type": "Feature"}', "type", "FeatureCollection"),
        ('{"type": "FeatureCollection", "features": {}}', "features", "list of features"),
        ('{"type": "FeatureCollection", "features": []}', "", "no fences"),
        ('{"type": "FeatureCollection", "features": [42]}', "features.0.type", "Feature"),
    ],
)
def test_wrong_file_shapes_are_located(text: str, field: str, fragment: str) -> None:
    ((got, message),) = problems(text)
    assert got == field and fragment in message


def test_feature_level_shape_errors_name_index_and_field() -> None:
    line = {
        "type": "Feature",
        "id": "l",
        "properties": {"name": "L"},
        "geometry": {"type": "LineString", "coordinates": [[5, 52], [6, 52]]},
    }
    no_id = point("x") | {"id": None}
    no_radius = point("r")
    del no_radius["properties"]["radius_m"]
    no_geometry = point("g") | {"geometry": None}
    no_name = point("n")
    del no_name["properties"]["name"]
    found = dict(problems(collection(line, no_id, no_radius, no_geometry, no_name)))
    assert "unsupported geometry type 'LineString'" in found["features.0.geometry.type"]
    assert "missing" in found["features.1.id"]
    assert "radius_m" in found["features.2.properties.radius_m"]
    assert "missing" in found["features.3.geometry"]
    assert found["features.4.properties.name"].startswith("Input should be a valid string")


def test_duplicate_ids_point_at_the_second_feature() -> None:
    found = problems(collection(point("a"), point("b"), point("a")))
    assert found == [("features.2.id", "fence id 'a' already used by features.0")]


def test_many_problems_are_reported_together_but_bounded() -> None:
    found = problems(collection(*[point(f"f{i}", lat=100) for i in range(80)]))
    assert len(found) == 50


def test_multipolygon_cut_at_the_antimeridian_joins_into_one_fence() -> None:
    east = [[[179.99, -16.0], [180.0, -16.0], [180.0, -15.99], [179.99, -15.99], [179.99, -16.0]]]
    west = [
        [[-180.0, -16.0], [-179.99, -16.0], [-179.99, -15.99], [-180.0, -15.99], [-180.0, -16.0]]
    ]
    feature = {
        "type": "Feature",
        "id": "fiji",
        "properties": {"name": "Taveuni ferry"},
        "geometry": {"type": "MultiPolygon", "coordinates": [east, west]},
    }
    fence_set = parse_geojson(collection(feature), source="f", set_id="s")
    index = build_index([fence_set])
    assert [f.key for f in index.containing(-15.995, 179.995)] == ["s/fiji"]
    assert [f.key for f in index.containing(-15.995, -179.995)] == ["s/fiji"]
    apart = {
        "type": "Feature",
        "id": "two",
        "properties": {"name": "Two"},
        "geometry": {
            "type": "MultiPolygon",
            "coordinates": [SQUARE, [[[6.0, 52.0], [6.01, 52.0], [6.01, 52.01], [6.0, 52.0]]]],
        },
    }
    ((field, message),) = problems(collection(apart))
    assert field == "features.0.geometry.coordinates" and "one place" in message


def test_csv_loads_circles_with_comments_tags_and_metadata() -> None:
    text = (
        "# generated for a test\n"
        "id,name,lat,lng,radius_m,tags,city\n"
        "ut,Utrecht Centraal,52.0894,5.1101,250,train_station;hub,Utrecht\n"
        "\n"
        "asd,Amsterdam Centraal,52.3791,4.9003,300,train_station,Amsterdam\n"
    )
    fence_set = parse_csv(text, source="s.csv", set_id="nl")
    assert [f.id for f in fence_set.fences] == ["ut", "asd"]
    assert fence_set.fences[0].tags == ["hub", "train_station"]
    assert fence_set.fences[0].metadata == {"city": "Utrecht"}


def test_csv_problems_name_the_line_and_the_column() -> None:
    text = (
        "id,name,lat,lng,radius_m\n"
        "a,A,52.0,5.0,150\n"
        "b,B,nan,5.0,150\n"
        "c,C,52.0,5.0,0\n"
        "d,D,52.0,east,150\n"
        "e,E,52.0,5.0\n"
        "a,A again,52.0,5.0,150\n"
    )
    with pytest.raises(ConfigError) as caught:
        parse_csv(text, source="s.csv", set_id="nl")
    got = [(p.line, p.field, p.message) for p in caught.value.problems]
    assert got[0] == (3, "lat", "Input should be a finite number")
    assert got[1][:2] == (4, "radius_m")
    assert got[2] == (5, "lng", "not a number: 'east'")
    assert got[3] == (6, "", "expected 5 columns, found 4")
    assert got[4] == (7, "id", "fence id 'a' already used by line 2")
    assert str(caught.value.problems[0]).startswith("s.csv:3: lat: ")


def test_csv_without_required_columns() -> None:
    with pytest.raises(ConfigError, match="header lacks column"):
        parse_csv("id,name,lat\n", source="s.csv", set_id="nl")


def test_file_loader_picks_the_format_and_reports_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "My Stations.csv"
    path.write_text("id,name,lat,lng,radius_m\na,A,52,5,100\n", encoding="utf-8")
    assert load_fence_set_file(path).id == "my-stations"
    with pytest.raises(ConfigError, match="No such file"):
        load_fence_set_file(tmp_path / "missing.geojson")
    (tmp_path / "x.kml").write_text("<kml/>", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\.geojson"):
        load_fence_set_file(tmp_path / "x.kml")


def test_sample_station_set_loads_and_indexes() -> None:
    fence_set = load_fence_set_file(SAMPLE)
    assert fence_set.id == "stations" and len(fence_set.fences) >= 300
    assert SAMPLE.stat().st_size < 200_000
    assert all("train_station" in f.tags for f in fence_set.fences)
    index = build_index([fence_set])
    assert [f.key for f in index.containing(52.0894, 5.1101)] == ["stations/nl-utrecht-centraal"]
    inside_kx = {f.key for f in index.containing(51.5308, -0.1238)}
    assert "stations/gb-london-king-s-cross" in inside_kx
