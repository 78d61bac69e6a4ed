"""Use cases: the logic layer between thin handlers and the ports."""
