"""Geofence lookup throughput: `python -m tests.bench.geo` (or call `run_geo_bench()`).

Fences are station-sized circles (100-300 m) with 1 in 20 a polygon, scattered over the
Netherlands and Belgium. The 100,000-fence case keeps the 10,000-fence density and covers
ten times the area (Western Europe): a fence set grows with geography. A second line
also gives the worst case, all 100,000 packed into the same NL/BE box (ten times denser).
Probe points are random in the same boxes, plus a share right at fences (a station visit).
"""

from __future__ import annotations

import random
import time

from nudge.domain.geofencing import FenceIndex, build_index
from nudge.models.geofence import CircleGeometry, Fence, FenceSet, PolygonGeometry

NL_BE = (49.5, 53.5, 2.5, 7.2)  # lat min/max, lng min/max (~72,000 km² of land and sea)
WESTERN_EUROPE = (43.0, 56.0, -5.0, 14.0)  # about ten times that


def _fences(count: int, box: tuple[float, float, float, float], seed: int) -> FenceSet:
    rng = random.Random(seed)
    lat0, lat1, lng0, lng1 = box
    fences = []
    for i in range(count):
        lat, lng = rng.uniform(lat0, lat1), rng.uniform(lng0, lng1)
        if i % 20 == 0:
            d_lat, d_lng = 0.0015, 0.0025
            ring = [
                (lng - d_lng, lat - d_lat),
                (lng + d_lng, lat - d_lat),
                (lng + d_lng, lat + d_lat),
                (lng - d_lng, lat + d_lat),
                (lng - d_lng, lat - d_lat),
            ]
            geometry: CircleGeometry | PolygonGeometry = PolygonGeometry(coordinates=[ring])
        else:
            geometry = CircleGeometry(lat=lat, lng=lng, radius_m=rng.uniform(100, 300))
        fences.append(Fence(id=f"f{i}", name=f"Fence {i}", geometry=geometry))
    return FenceSet(id="bench", fences=fences)


def _probes(
    index: FenceIndex, box: tuple[float, float, float, float], count: int, seed: int
) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    lat0, lat1, lng0, lng1 = box
    points = []
    for i in range(count):
        if i % 4 == 0:  # a quarter of probes at a fence (someone at a station)
            fence = index.fences[rng.randrange(len(index.fences))]
            points.append(
                (fence.lat + rng.uniform(-0.002, 0.002), fence.lng + rng.uniform(-0.003, 0.003))
            )
        else:
            points.append((rng.uniform(lat0, lat1), rng.uniform(lng0, lng1)))
    return points


def _lookup_pass(index: FenceIndex, points: list[tuple[float, float]]) -> float:
    start = time.perf_counter()
    for lat, lng in points:
        index.lookup(lat, lng)
    return (time.perf_counter() - start) / len(points) * 1e6


def run_geo_bench(probes: int = 20_000, rounds: int = 5, dense: bool = False) -> list[str]:
    """Lookup latency per index, best of `rounds` interleaved passes (so a busy machine
    slows every case alike); `dense=True` adds 100,000 fences in the 10,000-fence box."""
    cases = [("10k", 10_000, NL_BE), ("100k", 100_000, WESTERN_EUROPE)]
    if dense:
        cases.append(("100k dense", 100_000, NL_BE))
    built: dict[str, tuple[FenceIndex, list[tuple[float, float]], float]] = {}
    for label, count, box in cases:
        fence_set = _fences(count, box, seed=count)
        start = time.perf_counter()
        index = build_index([fence_set])
        seconds = time.perf_counter() - start
        built[label] = (index, _probes(index, box, probes, seed=7), seconds)
    best = dict.fromkeys(built, float("inf"))
    for _ in range(rounds):
        for label, (index, points, _) in built.items():
            best[label] = min(best[label], _lookup_pass(index, points))
    base, wide = best["10k"], best["100k"]
    lines = [
        f"geofence lookup: {1e6 / base:,.0f} lookups/s with 10,000 fences ({base:.1f} µs each); "
        f"100,000 fences: {wide:.1f} µs each ({wide / base:.2f}x of 10k)"
    ]
    if dense:
        heavy = best["100k dense"]
        lines.append(
            f"geofence lookup, 100,000 fences at 10x the density (same NL/BE box): "
            f"{heavy:.1f} µs each ({heavy / base:.2f}x of 10k)"
        )
    lines.append(
        "geofence index build (models validated beforehand): "
        + ", ".join(f"{label} fences {seconds:.1f} s" for label, (_, _, seconds) in built.items())
    )
    return lines


if __name__ == "__main__":
    import sys

    for line in run_geo_bench(dense="--dense" in sys.argv):
        print(line)
