"""Nps: the pure domain of this capability."""
