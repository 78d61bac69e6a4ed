"""Counts DynamoDB write units as billed (item size rounded up per KB, plus index writes)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class WriteMeter:
    table_units: int = 0
    index_units: int = 0
    writes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, table_units: int, index_units: int = 0) -> None:
        with self._lock:
            self.table_units += table_units
            self.index_units += index_units
            self.writes += 1

    @property
    def total(self) -> int:
        return self.table_units + self.index_units

    def reset(self) -> None:
        with self._lock:
            self.table_units = self.index_units = self.writes = 0


METER = WriteMeter()
