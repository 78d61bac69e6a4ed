"""Profiles: use cases of this capability."""
