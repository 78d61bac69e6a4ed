"""Engagement: use cases of this capability."""
