"""Profiles: the pure domain of this capability."""
