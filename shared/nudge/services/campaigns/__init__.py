"""Campaigns: use cases of this capability."""
