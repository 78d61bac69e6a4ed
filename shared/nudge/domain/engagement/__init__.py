"""Engagement: the pure domain of this capability."""
