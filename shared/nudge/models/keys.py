"""Key conventions shared by the API and the stores."""

# Partition keys starting with this are reserved for system items (e.g. the scheduler's
# cursor) and are never accepted as a user id.
SYSTEM_PREFIX = "#"
