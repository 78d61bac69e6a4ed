"""Pipeline: use cases of this capability."""
