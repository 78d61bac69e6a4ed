"""Geofencing, the pure core: fence sets, a spatial index, the fences a device should
monitor, and enter/exit/dwell transitions. No AWS; time comes from events and `now`.

Importing this module is cheap: shapely, h3 and numpy are imported inside the functions
that need them, so handlers that never touch geofences pay nothing at cold start.

- import:      `parse_geojson`, `parse_csv`, `load_fence_set_file` → FenceSet (ConfigError)
- index:       `build_index(sets)` → FenceIndex; `index.lookup(lat, lng, within_m)`
- the app:     `nearest_fences(index, lat, lng, limit, platform)` → NearbyFences
- transitions: `apply_location_update(s)`, `due_dwells`, `next_dwell_due`
"""

from __future__ import annotations

from nudge.domain.geofencing.importing import load_fence_set_file, parse_csv, parse_geojson
from nudge.domain.geofencing.index import FenceIndex, IndexedFence, build_index, nearest_fences
from nudge.domain.geofencing.transitions import (
    DEFAULT_RULES,
    GeofenceResult,
    TransitionRules,
    apply_location_update,
    apply_location_updates,
    due_dwells,
    next_dwell_due,
)
from nudge.geometry import haversine_m

__all__ = [
    "DEFAULT_RULES",
    "FenceIndex",
    "GeofenceResult",
    "IndexedFence",
    "TransitionRules",
    "apply_location_update",
    "apply_location_updates",
    "build_index",
    "due_dwells",
    "haversine_m",
    "load_fence_set_file",
    "nearest_fences",
    "next_dwell_due",
    "parse_csv",
    "parse_geojson",
]
