"""Reading a Pinpoint JSON document field by field, so nothing in it is dropped unnoticed.

A `Reader` hands out typed fields (a wrong type is a `PinpointFormatError` naming the file and
the field) and remembers every path it handed out or was told could not be carried over.
`leftovers()` then walks the document and reports every field nobody read: what the
conversion does not know about is listed, never silently lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

# Pinpoint bookkeeping: identifies or dates the definition, says nothing about what it does.
BOOKKEEPING = frozenset(
    {
        "Id",
        "Arn",
        "ApplicationId",
        "CreationDate",
        "LastModifiedDate",
        "Version",
        "SegmentVersion",
        "DefaultState",
        "State",
    }
)


@dataclass(frozen=True)
class Unconverted:
    """A field of the Pinpoint document that the Nudge files do not carry (and why)."""

    source: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.field}: {self.reason}"


class PinpointFormatError(ValueError):
    """The document is not the Pinpoint shape: names the file and the field."""

    def __init__(self, source: str, field: str, message: str) -> None:
        self.source, self.field = source, field
        super().__init__(f"{source}: {field}: {message}" if field else f"{source}: {message}")


_KINDS: dict[str, tuple[type, ...]] = {
    "an object": (dict,),
    "a list": (list,),
    "a string": (str,),
    "a number": (int, float),
    "true or false": (bool,),
}


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


@dataclass
class Reader:
    source: str
    document: dict[str, Any]
    unknown_reasons: dict[str, str] = field(default_factory=dict)  # by key name
    unconverted: list[Unconverted] = field(default_factory=list)
    _entered: set[str] = field(default_factory=set)  # containers read into
    _done: set[str] = field(default_factory=set)  # fields read whole, or reported

    def get(self, obj: dict[str, Any], key: str, path: str, kind: str) -> Any:
        """obj[key] checked to be `kind` (None when absent or null); marks it read."""
        where = join(path, key)
        value = obj.get(key)
        if value is None:
            self._done.add(where)
            return None
        expected = _KINDS[kind]
        wrong_bool = isinstance(value, bool) and bool not in expected
        if wrong_bool or not isinstance(value, expected):
            raise PinpointFormatError(
                self.source, where, f"expected {kind}, got {type(value).__name__}"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise PinpointFormatError(self.source, where, "expected a finite number")
        (self._entered if isinstance(value, dict | list) else self._done).add(where)
        return value

    def mapping(self, obj: dict[str, Any], key: str, path: str) -> dict[str, Any]:
        return self.get(obj, key, path, "an object") or {}

    def objects(self, obj: dict[str, Any], key: str, path: str) -> list[dict[str, Any]]:
        """A list of objects; each item is checked to be one."""
        items = self.get(obj, key, path, "a list") or []
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise PinpointFormatError(
                    self.source, join(join(path, key), index), "expected an object"
                )
            self._entered.add(join(join(path, key), index))
        return items

    def strings(self, obj: dict[str, Any], key: str, path: str) -> list[str]:
        items = self.get(obj, key, path, "a list") or []
        for index, item in enumerate(items):
            if not isinstance(item, str):
                where = join(join(path, key), index)
                raise PinpointFormatError(self.source, where, "expected a string")
        self.consumed(join(path, key))
        return items

    def entries(self, obj: dict[str, Any], key: str, path: str) -> list[tuple[str, dict[str, Any]]]:
        """A map of name -> object (attributes, metrics), each value checked to be an object."""
        found = self.mapping(obj, key, path)
        for name, value in found.items():
            if not isinstance(value, dict):
                where = join(join(path, key), name)
                raise PinpointFormatError(self.source, where, "expected an object")
            self._entered.add(join(join(path, key), name))
        return list(found.items())

    def consumed(self, path: str) -> None:
        """Everything under `path` has been dealt with."""
        self._done.add(path)

    def report(self, path: str, reason: str) -> None:
        """`path` is not (or not wholly) carried over; the fields of a container read into
        are still checked one by one."""
        self.unconverted.append(Unconverted(self.source, path, reason))
        if path not in self._entered:
            self._done.add(path)

    def leftovers(self) -> list[Unconverted]:
        """Every field never read nor reported, each with why it could not be carried over."""
        found: list[Unconverted] = []
        bookkeeping: list[str] = []
        self._walk(self.document, "", found, bookkeeping)
        if bookkeeping:
            reason = "Pinpoint bookkeeping (ids, dates, versions, state): nothing to carry over"
            found.insert(0, Unconverted(self.source, ", ".join(bookkeeping), reason))
        self.unconverted.extend(found)
        return found

    def _walk(self, value: Any, path: str, found: list[Unconverted], book: list[str]) -> None:
        children: list[tuple[str | int, Any]] = (
            list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        )
        for key, child in children:
            where = join(path, key)
            if where in self._done:
                continue
            if where in self._entered and isinstance(child, dict | list):
                self._walk(child, where, found, book)
            elif path == "" and key in BOOKKEEPING:
                book.append(where)
            elif child is not None and child != {} and child != []:
                reason = self.unknown_reasons.get(str(key), "no Nudge equivalent: not converted")
                found.append(Unconverted(self.source, where, reason))
