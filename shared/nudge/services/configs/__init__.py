"""Configs: use cases of this capability."""
