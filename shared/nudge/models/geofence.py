"""Geofences: fence sets (circles and polygons), location updates, transitions, and what the
app registers with the OS. Positions are WGS84 degrees; polygon rings follow GeoJSON
([lng, lat] pairs, closed rings, the first ring is the exterior, the others are holes).
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    computed_field,
    field_validator,
    model_validator,
)

# The app's side (GET /v1/me/geofences) lives in a small module the devices API can import
# alone at cold start; re-exported here.
from nudge.models.geofence_regions import PLATFORM_REGION_LIMITS as PLATFORM_REGION_LIMITS
from nudge.models.geofence_regions import MonitoredRegion as MonitoredRegion
from nudge.models.geofence_regions import NearbyFences as NearbyFences

MIN_RADIUS_M = 10.0  # smaller than GPS noise: it could never be entered reliably
MAX_RADIUS_M = 50_000.0  # a 50 km "place" is a region, not a geofence
MAX_FENCES_PER_SET = 100_000
MAX_RING_POSITIONS = 2_000
MAX_TAGS = 20
MAX_METADATA_KEYS = 30

SetId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
]
FenceId = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")
]
Tag = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_\-]*$")
]
MetaKey = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
]
MetaValue = Annotated[str, StringConstraints(max_length=256)] | bool | int | float | None
Latitude = Annotated[float, Field(ge=-90, le=90, description="Latitude in degrees (WGS84)")]
Longitude = Annotated[float, Field(ge=-180, le=180, description="Longitude in degrees (WGS84)")]
Position = tuple[Longitude, Latitude]  # GeoJSON order
EventId = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
]
FenceKey = Annotated[
    str, StringConstraints(min_length=3, max_length=129, pattern=r"^[a-z0-9][a-z0-9_\-]*/.+$")
]


def fence_key(set_id: str, fence_id: str) -> str:
    """The id the app registers with the OS and the transitions name: `set_id/fence_id`."""
    return f"{set_id}/{fence_id}"


class CircleGeometry(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", allow_inf_nan=False, frozen=True)

    type: Literal["circle"] = "circle"
    lat: Latitude
    lng: Longitude
    radius_m: float = Field(
        ge=MIN_RADIUS_M, le=MAX_RADIUS_M, description="Radius in metres (10 m to 50 km)"
    )


class PolygonGeometry(BaseModel):
    """A polygon in GeoJSON order. Edges take the short way round: a fence straddling ±180°
    is written with longitudes on both sides (179.99 and -179.99) and stays small."""

    model_config = ConfigDict(defer_build=True, extra="forbid", allow_inf_nan=False, frozen=True)

    type: Literal["polygon"] = "polygon"
    coordinates: list[Annotated[list[Position], Field(max_length=MAX_RING_POSITIONS)]] = Field(
        min_length=1, max_length=50, description="Closed rings of [lng, lat]: exterior, holes"
    )

    @model_validator(mode="after")
    def _valid_polygon(self) -> PolygonGeometry:
        from nudge.geometry import circumradius_of_rings, polygon_problem

        rings = [list(ring) for ring in self.coordinates]
        problem = polygon_problem(rings)
        if problem is not None:
            raise ValueError(problem)
        radius = circumradius_of_rings(rings)
        if radius < MIN_RADIUS_M:
            raise ValueError(f"polygon is too small (fits in {radius:.1f} m; at least 10 m)")
        if radius > MAX_RADIUS_M:
            raise ValueError(f"polygon is too large ({radius / 1000:.0f} km across; at most 50 km)")
        return self


Geometry = Annotated[CircleGeometry | PolygonGeometry, Field(discriminator="type")]


class Fence(BaseModel):
    """One named place: a circle or a polygon, tags for campaign triggers, free metadata."""

    model_config = ConfigDict(defer_build=True, extra="forbid", allow_inf_nan=False, frozen=True)

    id: FenceId
    name: Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
    geometry: Geometry
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)
    metadata: dict[MetaKey, MetaValue] = Field(default_factory=dict, max_length=MAX_METADATA_KEYS)

    @field_validator("tags")
    @classmethod
    def _unique_tags(cls, value: list[str]) -> list[str]:
        return sorted(set(value))

    @field_validator("metadata")
    @classmethod
    def _finite(cls, value: dict[str, object]) -> dict[str, object]:
        for key, item in value.items():
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"metadata {key!r} must be a finite number")
        return value


class FenceSet(BaseModel):
    """A versioned set of fences (like a campaign: id + version, and a hash of the content
    so an unchanged upload is recognised and does not make a new version)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", allow_inf_nan=False, frozen=True)

    id: SetId
    version: int = Field(default=1, ge=1)
    name: Annotated[str, StringConstraints(max_length=200)] | None = None
    fences: list[Fence] = Field(min_length=1, max_length=MAX_FENCES_PER_SET)

    @field_validator("fences")
    @classmethod
    def _unique_ids(cls, value: list[Fence]) -> list[Fence]:
        seen: set[str] = set()
        for fence in value:
            if fence.id in seen:
                raise ValueError(f"fence id {fence.id!r} appears more than once")
            seen.add(fence.id)
        return value

    @computed_field  # type: ignore[prop-decorator]
    @property
    def content_hash(self) -> str:
        """sha256 of the name and fences (not id or version), canonical JSON."""
        body = {"name": self.name, "fences": [f.model_dump(mode="json") for f in self.fences]}
        canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()


# --- what the device reports -------------------------------------------------------------


class RegionSignal(BaseModel):
    """The OS said the device entered or left a region the app registered (by its key)."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    fence_key: FenceKey
    kind: Literal["enter", "exit"]


class LocationUpdate(BaseModel):
    """A location report: an OS region callback (optionally with a fix), a significant-
    location change, a visit, or a foreground fix. Positions are never stored."""

    model_config = ConfigDict(defer_build=True, extra="forbid", allow_inf_nan=False, frozen=True)

    event_id: EventId = Field(description="Client-generated unique id; retries reuse it")
    timestamp: AwareDatetime
    lat: Latitude | None = None
    lng: Longitude | None = None
    accuracy_m: float | None = Field(
        default=None, ge=0, description="Horizontal accuracy in metres; poor fixes are ignored"
    )
    source: Literal["region", "significant_change", "visit", "fix"] = "fix"
    region: RegionSignal | None = None

    @model_validator(mode="after")
    def _position_or_region(self) -> LocationUpdate:
        if (self.lat is None) != (self.lng is None):
            raise ValueError("lat and lng come together")
        if self.lat is None and self.region is None:
            raise ValueError("a location update needs lat/lng, a region signal, or both")
        return self

    @property
    def has_position(self) -> bool:
        return self.lat is not None and self.lng is not None


TransitionKind = Literal["enter", "exit", "dwell"]


class FenceTransition(BaseModel):
    """A derived geofence event for campaign triggers; `transition_id` is deterministic
    (fence, kind, stay start, dwell threshold) so a reprocessed update sends nothing twice."""

    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)

    transition_id: str
    kind: TransitionKind
    fence_key: str
    set_id: str
    fence_id: str
    name: str
    tags: list[str]
    at: datetime = Field(description="When it happened (event time; dwell: entry + minutes)")
    event_id: str | None = Field(description="The location update that caused it, if any")
    dwell_minutes: int | None = None


class FencePresence(BaseModel):
    """Per fence: inside since `since`, or a short-lived record of a recent exit at `since`
    (kept so a late, older update cannot re-enter). `last_*` is the newest update applied."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    inside: bool
    since: AwareDatetime
    last_at: AwareDatetime
    last_id: str
    dwelt: int = Field(default=0, description="Largest dwell threshold (minutes) already fired")


class GeofenceState(BaseModel):
    """A user's compact geofence state: only fences inside or recently left, the newest fix
    applied (time and id, never the position), and when the whole item may expire (TTL)."""

    model_config = ConfigDict(defer_build=True, extra="forbid")

    fences: dict[str, FencePresence] = Field(default_factory=dict)
    fix_at: AwareDatetime | None = None
    fix_id: str | None = None
    expires_at: AwareDatetime
