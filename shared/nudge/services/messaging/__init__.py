"""Messaging: use cases of this capability."""
