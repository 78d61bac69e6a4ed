"""Messaging: the pure domain of this capability."""
