"""Geometry for geofences: great-circle distances for circles, a local frame for polygons.

Circles are exact on the sphere: haversine distance to the centre minus the radius.

Polygons are projected, per fence, onto a local equirectangular frame centred on the
polygon: x = R·cos(lat0)·Δlng, y = R·Δlat, in metres, with Δlng wrapped into (-180, 180].
Why this frame:
- It is affine in (lng, lat), so straight GeoJSON edges stay straight and containment is
  exactly GeoJSON's (RFC 7946 treats positions as planar lon/lat); validity (self-
  intersection) is therefore the same in metres as in degrees.
- Wrapping Δlng around the fence's own reference makes a fence that straddles ±180°
  contiguous: [179.99, …] and [-179.99, …] are 2 m apart, not 359.98°.
- Distances near the polygon are metric to within |cos(lat)/cos(lat0) - 1| ≈ tan(lat0)·Δlat,
  i.e. below 0.1% for station-sized fences and about 1% at the 50 km size limit at 52°N:
  well inside GPS noise, and it only moves the hysteresis band by that fraction.
- Near the poles cos(lat0) vanishes, so polygons beyond ±85° latitude are refused (circles
  are fine anywhere).

shapely is imported inside functions: importing this module costs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)
_M_PER_DEG = EARTH_RADIUS_M * math.pi / 180.0
MAX_POLYGON_LAT = 85.0


def wrap_lng(delta: float) -> float:
    """A longitude difference folded into (-180, 180]."""
    wrapped = math.fmod(delta + 180.0, 360.0)
    if wrapped <= 0.0:
        wrapped += 360.0
    return wrapped - 180.0


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres on the mean-radius sphere (error ≤ 0.5% vs WGS84)."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lng2 - lng1)
    h = math.sin(dp * 0.5) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


@dataclass(frozen=True, slots=True)
class LocalFrame:
    """Equirectangular frame in metres around (lat0, lng0); see the module docstring."""

    lat0: float
    lng0: float

    @property
    def kx(self) -> float:
        return _M_PER_DEG * math.cos(math.radians(self.lat0))

    def to_xy(self, lat: float, lng: float) -> tuple[float, float]:
        return wrap_lng(lng - self.lng0) * self.kx, (lat - self.lat0) * _M_PER_DEG

    def to_latlng(self, x: float, y: float) -> tuple[float, float]:
        lng = self.lng0 + x / self.kx
        if lng > 180.0:
            lng -= 360.0
        elif lng <= -180.0:
            lng += 360.0
        return self.lat0 + y / _M_PER_DEG, lng


def frame_for_rings(rings: list[list[tuple[float, float]]]) -> LocalFrame:
    """A frame centred on the exterior ring's bounding box, longitudes unwrapped first."""
    exterior = rings[0]
    ref_lng = exterior[0][0]
    lngs = [ref_lng + wrap_lng(lng - ref_lng) for lng, _ in exterior]
    lats = [lat for _, lat in exterior]
    return LocalFrame((min(lats) + max(lats)) / 2.0, (min(lngs) + max(lngs)) / 2.0)


@dataclass(frozen=True, slots=True)
class PolygonShape:
    """A polygon fence ready for fast queries (prepared shapely geometry in a LocalFrame)."""

    frame: LocalFrame
    polygon: Any  # shapely.Polygon in metres, prepared
    boundary: Any  # its boundary, prepared, for distances from inside
    centre: tuple[float, float]  # (lat, lng) of the minimum circumscribing circle
    circumradius_m: float  # radius of that circle, rounded up for the frame's scale error
    inradius_m: float  # radius of the largest inscribed circle (for the entry margin)

    def signed_distance_m(self, lat: float, lng: float) -> float:
        """Negative inside (depth below the boundary), positive outside, in metres."""
        import shapely

        x, y = self.frame.to_xy(lat, lng)
        point = shapely.Point(x, y)
        if shapely.contains_xy(self.polygon, x, y):
            return -float(shapely.distance(self.boundary, point))
        return float(shapely.distance(self.polygon, point))


def polygon_problem(rings: list[list[tuple[float, float]]]) -> str | None:
    """Why these GeoJSON rings ([lng, lat] positions) are not a usable polygon, or None."""
    for index, ring in enumerate(rings):
        name = "exterior ring" if index == 0 else f"hole {index}"
        if len(ring) < 4:
            return f"{name} needs at least 4 positions (3 corners and the first repeated)"
        if ring[0] != ring[-1]:
            return f"{name} is not closed: its last position must repeat the first"
        if any(abs(lat) > MAX_POLYGON_LAT for _, lat in ring):
            return (
                f"{name} reaches beyond ±{MAX_POLYGON_LAT:g}° latitude: use a circle near the poles"
            )
    import shapely

    frame = frame_for_rings(rings)
    geometry = _projected(rings, frame)
    if any(abs(x) > 1_000_000 for x, _ in geometry.exterior.coords):
        return "polygon spans too much longitude"
    reason = shapely.is_valid_reason(geometry)
    if reason != "Valid Geometry":
        return _located_reason(reason, frame)
    if geometry.area <= 0.0:
        return "polygon has no area"
    return None


def _located_reason(reason: str, frame: LocalFrame) -> str:
    """GEOS says 'Self-intersection[x y]' in metres; say where in degrees instead."""
    label, _, rest = reason.partition("[")
    words = rest.rstrip("]").split()
    try:
        x, y = float(words[0]), float(words[1])
    except (IndexError, ValueError):
        return f"invalid polygon: {reason}"
    lat, lng = frame.to_latlng(x, y)
    label = label.strip().lower() or "invalid polygon"
    return f"{label} near lng {lng:.6f}, lat {lat:.6f}"


def _projected(rings: list[list[tuple[float, float]]], frame: LocalFrame) -> Any:
    import shapely

    projected = [[frame.to_xy(lat, lng) for lng, lat in ring] for ring in rings]
    return shapely.Polygon(projected[0], projected[1:])


def build_polygon_shape(rings: list[list[tuple[float, float]]]) -> PolygonShape:
    """Project, prepare and measure a polygon that `polygon_problem` accepted."""
    import shapely

    frame = frame_for_rings(rings)
    polygon = _projected(rings, frame)
    boundary = polygon.boundary
    shapely.prepare(polygon)
    shapely.prepare(boundary)
    circle = shapely.minimum_bounding_circle(polygon)
    middle = circle.centroid
    radius = float(shapely.minimum_bounding_radius(polygon))
    inscribed = shapely.maximum_inscribed_circle(polygon, tolerance=max(radius / 1000.0, 0.01))
    inradius = float(inscribed.length)  # a LineString from the centre to the nearest edge
    # The frame's scale error (see module docstring) is ≤ tan(lat0)·Δlat; round up for it.
    slack = 1.0 + abs(math.tan(math.radians(frame.lat0))) * radius / EARTH_RADIUS_M
    return PolygonShape(
        frame=frame,
        polygon=polygon,
        boundary=boundary,
        centre=frame.to_latlng(float(middle.x), float(middle.y)),
        circumradius_m=math.ceil(radius * slack + 1.0),
        inradius_m=inradius,
    )


def circumradius_of_rings(rings: list[list[tuple[float, float]]]) -> float:
    """Radius in metres of the smallest circle around the exterior ring (for size limits)."""
    import shapely

    frame = frame_for_rings(rings)
    return float(shapely.minimum_bounding_radius(_projected(rings[:1], frame)))


def merge_polygon_parts(
    parts: list[list[list[tuple[float, float]]]],
) -> list[list[tuple[float, float]]] | None:
    """A GeoJSON MultiPolygon that is one place cut at ±180° (RFC 7946 §3.1.9) as one
    polygon's rings, or None when its parts do not join into a single polygon."""
    import shapely

    frame = frame_for_rings(parts[0])
    geometries = [_projected(part, frame) for part in parts]
    if not all(geometry.is_valid for geometry in geometries):
        return None
    merged = shapely.union_all(geometries)
    if merged.geom_type != "Polygon":
        return None

    def back(coords: Any) -> list[tuple[float, float]]:
        ring = []
        for x, y in coords:
            lat, lng = frame.to_latlng(x, y)
            ring.append((round(lng, 9), round(lat, 9)))
        return ring

    return [back(merged.exterior.coords), *(back(hole.coords) for hole in merged.interiors)]
