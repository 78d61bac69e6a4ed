"""Geofencing: use cases of this capability."""
