"""Nps: use cases of this capability."""
