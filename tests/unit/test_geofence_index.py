"""The spatial index: containment near edges, the antimeridian, agreement with brute force,
nearest fences and their limits, and the lazy imports."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nudge.domain.geofencing import build_index, haversine_m, nearest_fences
from nudge.domain.geofencing.index import FenceIndex, nearest
from nudge.geometry import EARTH_RADIUS_M, wrap_lng
from nudge.models.geofence import CircleGeometry, Fence, FenceSet, PolygonGeometry

M_PER_DEG = EARTH_RADIUS_M * math.pi / 180


def offset(lat: float, lng: float, north_m: float, east_m: float) -> tuple[float, float]:
    """A point north_m / east_m away (small offsets), longitude wrapped."""
    new_lat = lat + north_m / M_PER_DEG
    new_lng = wrap_lng(lng + east_m / (M_PER_DEG * math.cos(math.radians(lat))))
    return new_lat, new_lng


def circle(fid: str, lat: float, lng: float, radius: float, tags: list[str] | None = None) -> Fence:
    geometry = CircleGeometry(lat=lat, lng=lng, radius_m=radius)
    return Fence(id=fid, name=fid.upper(), geometry=geometry, tags=tags or [])


def square(fid: str, lat: float, lng: float, half_m: float) -> Fence:
    scaled = [
        offset(lat, lng, n * half_m, e * half_m)
        for n, e in [(-1, -1), (-1, 1), (1, 1), (1, -1), (-1, -1)]
    ]
    ring = [(lng_, lat_) for lat_, lng_ in scaled]
    return Fence(id=fid, name=fid.upper(), geometry=PolygonGeometry(coordinates=[ring]))


def index_of(*fences: Fence, near_m: float = 200.0) -> FenceIndex:
    return build_index([FenceSet(id="s", fences=list(fences))], near_m=near_m)


def keys(index: FenceIndex, lat: float, lng: float, within: float = 0.0) -> list[str]:
    return [fence.key for fence, _ in index.lookup(lat, lng, within)]


@pytest.mark.parametrize(("lat", "lng"), [(52.0, 5.0), (-33.9, 18.4), (64.1, -21.9), (0.0, 0.0)])
def test_circle_edges_within_a_metre(lat: float, lng: float) -> None:
    index = index_of(circle("c", lat, lng, 150))
    for bearing in range(0, 360, 30):
        north, east = math.cos(math.radians(bearing)), math.sin(math.radians(bearing))
        assert keys(index, *offset(lat, lng, 149 * north, 149 * east)) == ["s/c"]
        assert keys(index, *offset(lat, lng, 151 * north, 151 * east)) == []
        assert keys(index, *offset(lat, lng, 300 * north, 300 * east), within=160) == ["s/c"]


def test_polygon_edges_and_holes() -> None:
    ring = [(5.0, 52.0), (5.004, 52.0), (5.004, 52.002), (5.0, 52.002), (5.0, 52.0)]
    hole = [
        (5.001, 52.0005),
        (5.003, 52.0005),
        (5.003, 52.0015),
        (5.001, 52.0015),
        (5.001, 52.0005),
    ]
    fence = Fence(id="p", name="P", geometry=PolygonGeometry(coordinates=[ring, hole]))
    index = index_of(fence)
    one_m = 1 / M_PER_DEG
    assert keys(index, 52.0 + one_m, 5.002) == ["s/p"]  # 1 m inside the south edge
    assert keys(index, 52.0 - one_m, 5.002) == []  # 1 m outside it
    assert keys(index, 52.001, 5.002) == []  # in the hole
    assert keys(index, 52.0005 - one_m, 5.002) == ["s/p"]  # just outside the hole
    ((_fence, distance),) = index.lookup(52.0 - 10 * one_m, 5.002, within_m=20)
    assert distance == pytest.approx(10.0, abs=0.05)
    inside = index.get("s/p")
    assert inside is not None and inside.signed_distance_m(
        52.0 + 3 * one_m, 5.002
    ) == pytest.approx(-3.0, abs=0.05)


def test_circle_across_the_antimeridian() -> None:
    index = index_of(circle("fiji", -16.5, 179.999, 500))
    assert keys(index, -16.5, -179.998) == ["s/fiji"]  # ~320 m east, across ±180
    assert keys(index, -16.5, 179.996) == ["s/fiji"]
    assert keys(index, -16.5, -179.99) == []  # ~1.07 km east
    assert keys(index, -16.5, 0.0) == []


def test_polygon_straddling_the_antimeridian() -> None:
    ring = [
        (179.998, 65.0),
        (-179.998, 65.0),
        (-179.998, 65.002),
        (179.998, 65.002),
        (179.998, 65.0),
    ]
    index = index_of(Fence(id="p", name="P", geometry=PolygonGeometry(coordinates=[ring])))
    assert keys(index, 65.001, 180.0) == ["s/p"]
    assert keys(index, 65.001, -180.0) == ["s/p"]
    assert keys(index, 65.001, -179.9985) == ["s/p"]
    assert keys(index, 65.001, 179.9985) == ["s/p"]
    assert keys(index, 65.001, -179.997) == []
    assert keys(index, 65.001, 0.0) == []
    fence = index.get("s/p")
    assert fence is not None and fence.radius_m < 200  # small, not a 359.996° band


def test_near_pole_and_pentagon_cells() -> None:
    index = index_of(circle("pole", 89.99, 0.0, 2000), circle("pent", 64.7, 10.536, 300))
    assert keys(index, 89.999, 120.0) == ["s/pole"]  # across the pole from the centre
    assert keys(index, 64.7, 10.539) == ["s/pent"]


def test_lookup_validates_its_arguments() -> None:
    index = index_of(circle("c", 52, 5, 100))
    with pytest.raises(ValueError, match="within_m"):
        index.lookup(52, 5, within_m=500)
    with pytest.raises(ValueError, match="lat must be"):
        index.lookup(math.nan, 5)


fence_centres = st.tuples(
    st.floats(-80, 80), st.floats(-180, 180), st.floats(10, 3000), st.booleans()
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    centres=st.lists(fence_centres, min_size=1, max_size=8),
    probes=st.lists(
        st.tuples(st.integers(0, 7), st.floats(0, 1.6), st.floats(0, 360)), min_size=1, max_size=20
    ),
)
def test_index_agrees_with_brute_force(
    centres: list[tuple[float, float, float, bool]], probes: list[tuple[int, float, float]]
) -> None:
    """Points around each fence (inside, on, and beyond its edge): the index finds exactly
    the fences a full scan finds, anywhere on the globe, including across ±180°."""
    fences = [
        square(f"f{i}", lat, lng, radius) if poly else circle(f"f{i}", lat, lng, radius)
        for i, (lat, lng, radius, poly) in enumerate(centres)
    ]
    index = index_of(*fences)
    for which, scale, bearing in probes:
        lat, lng, radius, _ = centres[which % len(centres)]
        north = math.cos(math.radians(bearing)) * radius * scale
        east = math.sin(math.radians(bearing)) * radius * scale
        p_lat, p_lng = offset(lat, lng, north, east)
        if abs(p_lat) > 89:
            continue
        for within in (0.0, 150.0):
            expected = sorted(
                f.key for f in index.fences if f.signed_distance_m(p_lat, p_lng) <= within
            )
            assert sorted(keys(index, p_lat, p_lng, within)) == expected


# --- nearest fences -----------------------------------------------------------------------


def grid_of_stations(count: int = 150) -> FenceIndex:
    fences = []
    for i in range(count):
        lat = 51.5 + (i // 15) * 0.02
        lng = 4.5 + (i % 15) * 0.03
        fences.append(circle(f"st{i}", lat, lng, 150 + (i % 3) * 50, ["train_station"]))
    fences.append(square("hub", 51.7, 4.95, 150))
    return index_of(*fences)


@pytest.mark.parametrize(("platform", "cap"), [("ios", 20), ("android", 100)])
def test_nearest_respects_platform_limits(platform: str, cap: int) -> None:
    index = grid_of_stations()
    answer = nearest_fences(index, 51.6, 4.7, cap, platform)
    assert len(answer.fences) == cap
    for bad in (0, cap + 1, -1):
        with pytest.raises(ValueError, match=f"from 1 to {cap}"):
            nearest_fences(index, 51.6, 4.7, bad, platform)
    with pytest.raises(ValueError, match="platform"):
        nearest_fences(index, 51.6, 4.7, 5, "web")


def test_nearest_are_the_closest_by_edge_with_a_refresh_radius() -> None:
    index = grid_of_stations()
    lat, lng = 51.61, 4.71
    answer = nearest_fences(index, lat, lng, 20, "ios")
    distances = sorted(max(0.0, f.signed_distance_m(lat, lng)) for f in index.fences)
    assert [r.distance_m for r in answer.fences] == [round(d, 1) for d in distances[:20]]
    assert answer.refresh_radius_m == pytest.approx(distances[19], abs=0.1)
    first = answer.fences[0]
    assert first.radius_m in (150, 200, 250) and not first.circumscribed
    assert first.tags == ["train_station"]


def test_polygon_comes_back_as_a_flagged_circumscribing_circle() -> None:
    index = grid_of_stations()
    answer = nearest_fences(index, 51.7, 4.95, 1, "ios")
    (hub,) = answer.fences
    assert hub.id == "s/hub" and hub.circumscribed and hub.distance_m == 0.0
    assert 150 * math.sqrt(2) <= hub.radius_m <= 150 * math.sqrt(2) + 5
    fence = index.get("s/hub")
    assert fence is not None and fence.polygon is not None
    for corner in fence.polygon.polygon.exterior.coords:
        c_lat, c_lng = fence.polygon.frame.to_latlng(*corner)
        assert haversine_m(hub.lat, hub.lng, c_lat, c_lng) <= hub.radius_m


def test_refresh_radius_is_bounded() -> None:
    index = grid_of_stations()
    inside = nearest_fences(index, 51.5, 4.5, 1, "ios")
    assert inside.fences[0].distance_m == 0 and inside.refresh_radius_m == 250.0
    empty = nearest_fences(index, -40.0, 170.0, 20, "ios")
    assert empty.fences == [] and empty.refresh_radius_m == 25_000.0


def test_nearest_across_the_antimeridian() -> None:
    index = index_of(circle("east", 0.0, 179.99, 100), circle("west", 0.0, -179.99, 100))
    answer = nearest_fences(index, 0.0, 180.0, 2, "ios")
    assert sorted(r.id for r in answer.fences) == ["s/east", "s/west"]
    assert all(r.distance_m < 1_100 for r in answer.fences)


@settings(max_examples=40, deadline=None)
@given(
    centres=st.lists(
        st.tuples(st.floats(-1, 1), st.floats(-1, 1), st.floats(10, 20_000)),
        min_size=1,
        max_size=25,
    ),
    query=st.tuples(st.floats(-1.5, 1.5), st.floats(-1.5, 1.5)),
    limit=st.integers(1, 20),
)
def test_nearest_agrees_with_brute_force(
    centres: list[tuple[float, float, float]], query: tuple[float, float], limit: int
) -> None:
    fences = [
        circle(f"f{i}", 52 + a, wrap_lng(179.5 + b), r) for i, (a, b, r) in enumerate(centres)
    ]
    index = index_of(*fences)
    lat, lng = 52 + query[0], wrap_lng(179.5 + query[1])
    expected = sorted(
        (d, f.key) for f in index.fences if (d := max(0.0, f.signed_distance_m(lat, lng))) <= 25_000
    )[:limit]
    got = [(d, f.key) for d, f in nearest(index, lat, lng, limit, 25_000)]
    assert got == expected


def test_importing_the_domain_does_not_load_geometry_libraries() -> None:
    code = (
        "import sys, nudge.domain.geofencing, nudge.models.geofence\n"
        "print(sorted(m for m in ('shapely', 'h3', 'numpy') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
