"""Spatial index over fence sets: which fences contain or are near a point, and the nearest
fences for the app to register with the OS, without scanning every fence.

Cells are H3 (v4, integer API). Each fence is filed under the H3 cells, at one resolution
chosen for its size (the finest whose average edge is at least the fence's reach, i.e.
circumradius + `near_m`), that can hold a point within its reach. A point lookup is then one
`latlng_to_cell` at the finest resolution in use, a `cell_to_parent` per other resolution,
one dict probe each, and an exact distance check on the few candidates: its cost depends on
local density, not on the number of fences.

Which cells: every cell whose centre is within reach + R of the fence's centre, where R
bounds a cell's circumradius. Candidates come from `grid_disk(k)` with k from a bound on the
grid distance between cells whose centres are d apart (≥ 0.78·edge per ring). The constants
are H3's measured geometry with a margin (circumradius ≤ 1.10 times average edge and neighbour
spacing ≥ 1.2 times average edge, sampled over the globe and at the pentagons; we use 1.25 and
0.9). H3 is spherical, so the antimeridian and the poles need no special case here.

Nearest fences: every fence is also filed once, by its centre, in a coarse proximity grid
(resolution 6, ~3.7 km edges; fences larger than 5 km in resolution 4, ~26 km). A query walks
rings outward and stops once no unseen fence can be closer than the `limit`-th found.

h3 and shapely are imported inside functions: importing this module costs nothing.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from nudge.geometry import EARTH_RADIUS_M, PolygonShape, build_polygon_shape, haversine_m
from nudge.models.geofence import (
    PLATFORM_REGION_LIMITS,
    CircleGeometry,
    Fence,
    FenceSet,
    MonitoredRegion,
    NearbyFences,
    fence_key,
)

DEFAULT_NEAR_M = 200.0  # lookups answer "contains or within this many metres"
CELL_RADIUS_FACTOR = 1.25  # cell circumradius ≤ this times average edge (measured 1.10)
CELL_SPACING_FACTOR = 0.9  # neighbour centres ≥ this times average edge apart (measured 1.2)
_RING_STEP = CELL_SPACING_FACTOR * math.sqrt(3) / 2  # metres per ring, in average edges
RESOLUTIONS = (10, 9, 8, 7, 6, 5, 4, 3, 2)  # finest first
PROXIMITY_RES = 6
LARGE_PROXIMITY_RES = 4
LARGE_FENCE_M = 5_000.0
MIN_REFRESH_M = 250.0
MAX_REFRESH_M = 25_000.0
DEFAULT_SEARCH_M = 25_000.0


@dataclass(frozen=True, slots=True)
class IndexedFence:
    """A fence as the index keeps it: the key, what the app needs, and the exact shape."""

    key: str
    set_id: str
    fence_id: str
    name: str
    tags: tuple[str, ...]
    lat: float  # circle centre, or the centre of the polygon's circumscribing circle
    lng: float
    radius_m: float  # circle radius, or the polygon's circumradius
    inradius_m: float  # circle radius, or the polygon's largest inscribed circle
    polygon: PolygonShape | None = None

    def signed_distance_m(self, lat: float, lng: float) -> float:
        """Negative inside (how deep), positive outside (how far from the edge), metres."""
        if self.polygon is None:
            return haversine_m(self.lat, self.lng, lat, lng) - self.radius_m
        return self.polygon.signed_distance_m(lat, lng)


def _edge_m(res: int) -> float:
    import h3

    return float(h3.average_hexagon_edge_length(res, unit="m"))


@dataclass
class FenceIndex:
    """Build with `build_index`; read-only afterwards (share it across invocations)."""

    near_m: float
    fences: list[IndexedFence] = field(default_factory=list)
    by_key: dict[str, int] = field(default_factory=dict)
    cells: dict[int, list[int]] = field(default_factory=dict)
    resolutions: tuple[int, ...] = ()  # in use, finest first
    proximity: dict[int, dict[int, list[int]]] = field(default_factory=dict)  # res → cell → ids
    proximity_reach: dict[int, float] = field(default_factory=dict)  # res → max circumradius
    sets: dict[str, tuple[int, str]] = field(default_factory=dict)  # id → (version, hash)

    def __len__(self) -> int:
        return len(self.fences)

    def get(self, key: str) -> IndexedFence | None:
        position = self.by_key.get(key)
        return None if position is None else self.fences[position]

    def candidates(self, lat: float, lng: float) -> Iterator[int]:
        """Positions of fences whose cells hold the point (a superset of those near it)."""
        import h3.api.basic_int as h3

        if not self.resolutions:
            return
        cell = h3.latlng_to_cell(lat, lng, self.resolutions[0])
        cells = self.cells
        first = True
        for res in self.resolutions:
            found = cells.get(cell if first else h3.cell_to_parent(cell, res))
            first = False
            if found:
                yield from found

    def lookup(
        self, lat: float, lng: float, within_m: float = 0.0
    ) -> list[tuple[IndexedFence, float]]:
        """Fences containing the point (within_m=0) or within `within_m` of it (≤ near_m),
        with their signed distance, nearest first."""
        if not 0.0 <= within_m <= self.near_m:
            raise ValueError(f"within_m must be between 0 and {self.near_m:g}")
        _check_point(lat, lng)
        found = []
        for position in set(self.candidates(lat, lng)):
            fence = self.fences[position]
            distance = fence.signed_distance_m(lat, lng)
            if distance <= within_m:
                found.append((fence, distance))
        found.sort(key=lambda item: (item[1], item[0].key))
        return found

    def containing(self, lat: float, lng: float) -> list[IndexedFence]:
        return [fence for fence, _ in self.lookup(lat, lng)]


def _check_point(lat: float, lng: float) -> None:
    if not (math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 180):
        raise ValueError("lat must be within [-90, 90] and lng within [-180, 180]")


def build_index(sets: Iterable[FenceSet], *, near_m: float = DEFAULT_NEAR_M) -> FenceIndex:
    """Index the fences of one or more sets (keys `set_id/fence_id`)."""
    import h3.api.basic_int as h3

    if not 0.0 <= near_m <= 5_000.0:
        raise ValueError("near_m must be between 0 and 5000 metres")
    index = FenceIndex(near_m=near_m)
    edges = {res: _edge_m(res) for res in RESOLUTIONS}
    by_res: dict[int, list[int]] = {}
    for fence_set in sets:
        if fence_set.id in index.sets:
            raise ValueError(f"fence set {fence_set.id!r} given twice")
        index.sets[fence_set.id] = (fence_set.version, fence_set.content_hash)
        for fence in fence_set.fences:
            indexed = _indexed(fence_set.id, fence)
            position = len(index.fences)
            index.fences.append(indexed)
            index.by_key[indexed.key] = position
            reach = indexed.radius_m + near_m
            res = next((r for r in RESOLUTIONS if edges[r] >= reach), RESOLUTIONS[-1])
            by_res.setdefault(res, []).append(position)
            large = indexed.radius_m > LARGE_FENCE_M
            prox = LARGE_PROXIMITY_RES if large else PROXIMITY_RES
            cell = h3.latlng_to_cell(indexed.lat, indexed.lng, prox)
            index.proximity.setdefault(prox, {}).setdefault(cell, []).append(position)
            index.proximity_reach[prox] = max(
                index.proximity_reach.get(prox, 0.0), indexed.radius_m
            )
    for res, positions in by_res.items():
        for position, cell in _cover(index, positions, res, edges[res]):
            index.cells.setdefault(cell, []).append(position)
    index.resolutions = tuple(sorted(by_res, reverse=True))
    return index


def _indexed(set_id: str, fence: Fence) -> IndexedFence:
    geometry = fence.geometry
    key = fence_key(set_id, fence.id)
    tags = tuple(fence.tags)
    if isinstance(geometry, CircleGeometry):
        return IndexedFence(
            key,
            set_id,
            fence.id,
            fence.name,
            tags,
            lat=geometry.lat,
            lng=geometry.lng,
            radius_m=geometry.radius_m,
            inradius_m=geometry.radius_m,
        )
    shape = build_polygon_shape([list(ring) for ring in geometry.coordinates])
    return IndexedFence(
        key,
        set_id,
        fence.id,
        fence.name,
        tags,
        lat=shape.centre[0],
        lng=shape.centre[1],
        radius_m=shape.circumradius_m,
        inradius_m=shape.inradius_m,
        polygon=shape,
    )


def _cover(
    index: FenceIndex, positions: list[int], res: int, edge: float
) -> Iterator[tuple[int, int]]:
    """(fence position, H3 cell at `res`) for every cell that can hold a point within the
    fence's reach (circumradius + near_m): candidates from a grid disk, kept when the cell's
    centre is within reach + a cell's circumradius (vectorised haversine)."""
    import h3.api.basic_int as h3
    import numpy as np

    cell_radius = CELL_RADIUS_FACTOR * edge
    owners: list[int] = []
    cells: list[int] = []
    for position in positions:
        fence = index.fences[position]
        reach = fence.radius_m + index.near_m
        rings = math.ceil((reach + 2 * cell_radius) / (_RING_STEP * edge))
        disk = h3.grid_disk(h3.latlng_to_cell(fence.lat, fence.lng, res), rings)
        owners.extend([position] * len(disk))
        cells.extend(disk)
    unique, inverse = np.unique(np.array(cells, dtype=np.uint64), return_inverse=True)
    centres = np.radians(np.array([h3.cell_to_latlng(int(cell)) for cell in unique]))
    owner = np.array(owners)
    fence_lat = np.radians(np.array([f.lat for f in index.fences]))[owner]
    fence_lng = np.radians(np.array([f.lng for f in index.fences]))[owner]
    limit = np.array([f.radius_m for f in index.fences])[owner] + index.near_m + cell_radius
    picked = centres[inverse.reshape(-1)]
    d_lat = picked[:, 0] - fence_lat
    d_lng = picked[:, 1] - fence_lng
    h = np.sin(d_lat / 2) ** 2 + np.cos(fence_lat) * np.cos(picked[:, 0]) * np.sin(d_lng / 2) ** 2
    distance = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))
    for i in np.flatnonzero(distance <= limit).tolist():
        yield owners[i], cells[i]


def _ring(cell: int, k: int) -> list[int]:
    import h3.api.basic_int as h3

    if k == 0:
        return [cell]
    try:
        return list(h3.grid_ring(cell, k))
    except Exception:  # near a pentagon: fall back to the difference of two disks
        return sorted(set(h3.grid_disk(cell, k)) - set(h3.grid_disk(cell, k - 1)))


def nearest(
    index: FenceIndex, lat: float, lng: float, limit: int, max_distance_m: float
) -> list[tuple[float, IndexedFence]]:
    """The `limit` fences whose edges are nearest (0 inside) within max_distance_m, nearest
    first (ties by key). Exact: the ring walk stops only when nothing unseen can be closer."""
    import h3.api.basic_int as h3

    found: dict[int, float] = {}  # position → edge distance, everything seen in range

    def kth() -> float:
        if len(found) < limit:
            return math.inf
        return heapq.nsmallest(limit, found.values())[-1]

    for res, grid in index.proximity.items():
        edge = _edge_m(res)
        reach = index.proximity_reach[res]
        origin = h3.latlng_to_cell(lat, lng, res)
        k = 0
        while True:
            for cell in _ring(origin, k):
                for position in grid.get(cell, ()):
                    distance = max(0.0, index.fences[position].signed_distance_m(lat, lng))
                    if distance <= max_distance_m:
                        found[position] = distance
            # Every centre within `covered` metres has now been seen.
            covered = k * _RING_STEP * edge - 2 * CELL_RADIUS_FACTOR * edge
            if covered - reach > min(kth(), max_distance_m):
                break
            k += 1
    # Unseen fences are strictly farther than the k-th: ties at the cut are all here.
    ordered = sorted((distance, index.fences[p].key, p) for p, distance in found.items())
    return [(distance, index.fences[p]) for distance, _, p in ordered[:limit]]


def nearest_fences(
    index: FenceIndex,
    lat: float,
    lng: float,
    limit: int,
    platform: str,
    *,
    max_distance_m: float = DEFAULT_SEARCH_M,
) -> NearbyFences:
    """The fences the app should register with the OS, nearest edge first.

    `limit` is checked against the platform (iOS ≤ 20 regions, Android ≤ 100 geofences);
    an app that also monitors the refresh circle as a region should ask for one fewer.
    Polygons are returned as their circumscribing circle, flagged `circumscribed`.
    `refresh_radius_m`: after moving this far from (lat, lng) the app should ask again. When
    the answer is full it is the edge distance of the farthest returned fence (any fence not
    returned is at least that far, so the user cannot reach one before asking again); else
    the search radius. Bounded to [250 m, 25 km].
    """
    cap = PLATFORM_REGION_LIMITS.get(platform)
    if cap is None:
        raise ValueError(f"platform must be one of {sorted(PLATFORM_REGION_LIMITS)}")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= cap:
        raise ValueError(f"limit must be an integer from 1 to {cap} on {platform}")
    if not (math.isfinite(max_distance_m) and 0 < max_distance_m <= MAX_REFRESH_M * 4):
        raise ValueError("max_distance_m must be positive and at most 100 km")
    _check_point(lat, lng)
    found = nearest(index, lat, lng, limit, max_distance_m)
    regions = [
        MonitoredRegion(
            id=fence.key,
            name=fence.name,
            lat=round(fence.lat, 7),
            lng=round(fence.lng, 7),
            radius_m=fence.radius_m,
            circumscribed=fence.polygon is not None,
            tags=list(fence.tags),
            distance_m=round(distance, 1),
        )
        for distance, fence in found
    ]
    farthest = found[-1][0] if len(found) >= limit else max_distance_m
    refresh = min(MAX_REFRESH_M, max(MIN_REFRESH_M, farthest))
    return NearbyFences(fences=regions, refresh_radius_m=round(refresh, 1))
