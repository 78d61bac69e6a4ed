"""What the app registers with the OS (GET /v1/me/geofences): kept apart from the fence-set
models so the devices API imports only these small models at cold start."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# What the OS can monitor at once per app: iOS Core Location 20 regions, Android 100 geofences.
PLATFORM_REGION_LIMITS: dict[str, int] = {"ios": 20, "android": 100}


class MonitoredRegion(BaseModel):
    """A circle for the OS to monitor. Polygons are sent as their circumscribing circle
    (`circumscribed: true`); the server decides real containment from reported fixes."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    id: str = Field(description="Region identifier to register: `set_id/fence_id`")
    name: str
    lat: float
    lng: float
    radius_m: float
    circumscribed: bool = Field(description="True when the fence is a polygon")
    tags: list[str]
    distance_m: float = Field(description="From the query point to the fence's edge (0 inside)")


class NearbyFences(BaseModel):
    """Response of GET /v1/me/geofences: monitor these; ask again after moving
    `refresh_radius_m` from the query point (e.g. by monitoring that circle as a region,
    which then takes one of the platform's region slots)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    fences: list[MonitoredRegion]
    refresh_radius_m: float
