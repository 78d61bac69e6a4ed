"""Fence sets from GeoJSON or CSV (the CLI and the admin API call these), every problem
located like a config file's: `source[:line]: field.path: message`.

GeoJSON: a FeatureCollection. Each feature has an `id` (or `properties.id`) and
`properties.name`; optional `properties.tags` (a list, or "a;b"); every other property is
metadata (scalars only). Geometry:
- Point [lng, lat] with `properties.radius_m`: a circle;
- Polygon: rings of [lng, lat], closed, exterior first, then holes;
- MultiPolygon: only a place cut at ±180° into parts that join back into one polygon.
Problems name the feature and field, e.g. `features.3.geometry.coordinates.0.2.1`.

CSV: a header with id, name, lat, lng, radius_m and optionally tags (";"-separated); other
columns are metadata; lines starting with "#" are comments. Circles only. Problems name the
line and the column.
"""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from nudge.configfiles import (
    MAX_CONFIG_DEPTH,
    MAX_FENCE_SET_BYTES,
    ConfigError,
    ConfigProblem,
    read_config_file,
)
from nudge.models.geofence import Fence, FenceSet

MAX_IMPORT_BYTES = MAX_FENCE_SET_BYTES
MAX_PROBLEMS = 50
_RESERVED = {"id", "name", "tags", "radius_m"}
_JSON_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[ConfigProblem] = []

    def add(self, field: str, message: str, line: int | None = None) -> None:
        if len(self.items) < MAX_PROBLEMS:
            self.items.append(ConfigProblem(self.source, line, field, message))

    @property
    def full(self) -> bool:
        return len(self.items) >= MAX_PROBLEMS

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)


def _tags(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.replace(",", ";").split(";") if part.strip()]
    return value


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _position(value: Any, where: str, problems: _Problems) -> tuple[float, float] | None:
    if not isinstance(value, list) or len(value) not in (2, 3) or not all(map(_number, value)):
        problems.add(where, "a position must be [lng, lat] (or [lng, lat, altitude]) numbers")
        return None
    return float(value[0]), float(value[1])


def _rings(value: Any, where: str, problems: _Problems) -> list[list[tuple[float, float]]] | None:
    if not isinstance(value, list) or not value:
        problems.add(where, "Polygon coordinates must be a list of rings")
        return None
    rings = []
    for r, ring in enumerate(value):
        if not isinstance(ring, list):
            problems.add(f"{where}.{r}", "a ring must be a list of [lng, lat] positions")
            return None
        positions = []
        for p, item in enumerate(ring):
            position = _position(item, f"{where}.{r}.{p}", problems)
            if position is None:
                return None
            positions.append(position)
        rings.append(positions)
    return rings


def _geometry(
    geometry: Any, properties: dict[str, Any], where: str, problems: _Problems
) -> dict[str, Any] | None:
    from nudge.geometry import merge_polygon_parts

    if not isinstance(geometry, dict):
        problems.add(f"{where}.geometry", "missing or not an object")
        return None
    kind = geometry.get("type")
    coordinates = geometry.get("coordinates")
    at = f"{where}.geometry.coordinates"
    if kind == "Point":
        position = _position(coordinates, at, problems)
        if position is None:
            return None
        if "radius_m" not in properties:
            problems.add(f"{where}.properties.radius_m", "a Point needs radius_m (metres)")
            return None
        return {
            "type": "circle",
            "lng": position[0],
            "lat": position[1],
            "radius_m": properties["radius_m"],
        }
    if kind == "Polygon":
        rings = _rings(coordinates, at, problems)
        return None if rings is None else {"type": "polygon", "coordinates": rings}
    if kind == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            problems.add(at, "MultiPolygon coordinates must be a list of polygons")
            return None
        parts = []
        for index, part in enumerate(coordinates):
            rings = _rings(part, f"{at}.{index}", problems)
            if rings is None:
                return None
            parts.append(rings)
        if len(parts) == 1:
            return {"type": "polygon", "coordinates": parts[0]}
        merged = None
        try:
            merged = merge_polygon_parts(parts)
        except (ValueError, TypeError):  # degenerate rings: shapely refuses them
            merged = None
        if merged is None:
            problems.add(
                at,
                "a MultiPolygon must be one place cut at ±180°; give separate parts "
                "their own features",
            )
            return None
        return {"type": "polygon", "coordinates": merged}
    problems.add(
        f"{where}.geometry.type",
        f"unsupported geometry type {str(kind)[:40]!r}: use Point (with radius_m), "
        "Polygon or MultiPolygon",
    )
    return None


_GEOJSON_CIRCLE = {
    "lng": "geometry.coordinates.0",
    "lat": "geometry.coordinates.1",
    "radius_m": "properties.radius_m",
}


def _fence_field(loc: tuple[Any, ...], geojson: bool, id_field: str) -> str:
    """Map a pydantic location inside Fence to the field as the file spells it."""
    parts = [str(part) for part in loc]
    head = parts[0] if parts else ""
    if head == "geometry":
        rest = parts[2:]  # after the union tag ("circle" or "polygon")
        if rest and rest[0] in _GEOJSON_CIRCLE:
            return _GEOJSON_CIRCLE[rest[0]] if geojson else rest[0]
        if rest and rest[0] == "coordinates":
            return ".".join(["geometry", *rest])
        return "geometry.coordinates" if geojson else "geometry"
    if head == "id":
        return id_field
    if head == "metadata" and len(parts) > 1:
        parts = parts[1:]
    return ".".join(["properties", *parts]) if geojson else ".".join(parts)


def _validate_fence(
    data: dict[str, Any],
    prefix: str,
    id_field: str,
    problems: _Problems,
    line: int | None = None,
) -> Fence | None:
    try:
        return Fence.model_validate(data)
    except ValidationError as error:
        for item in error.errors(include_url=False, include_input=False):
            message = item["msg"].removeprefix("Value error, ")
            field = _fence_field(tuple(item["loc"]), line is None, id_field)
            problems.add(f"{prefix}{field}", message, line)
        return None


def _finish(
    fences: list[tuple[Fence, str, int | None]],
    problems: _Problems,
    set_id: str,
    version: int,
    name: str | None,
) -> FenceSet:
    seen: dict[str, str] = {}
    for fence, where, line in fences:
        if fence.id in seen:
            problems.add(where, f"fence id {fence.id!r} already used by {seen[fence.id]}", line)
        else:
            seen[fence.id] = f"line {line}" if line else ".".join(where.split(".")[:2])
    if not fences and not problems.items:
        problems.add("", "no fences in the file")
    problems.raise_if_any()
    try:
        return FenceSet(id=set_id, version=version, name=name, fences=[f for f, _, _ in fences])
    except ValidationError as error:
        for item in error.errors(include_url=False, include_input=False):
            problems.add(".".join(str(p) for p in item["loc"]), item["msg"])
        problems.raise_if_any()
        raise  # pragma: no cover


def parse_geojson(
    text: str, *, source: str, set_id: str, version: int = 1, name: str | None = None
) -> FenceSet:
    """A FenceSet from a GeoJSON FeatureCollection; ConfigError lists located problems."""
    problems = _Problems(source)
    if len(text.encode("utf-8", "replace")) > MAX_IMPORT_BYTES:
        problems.add("", "file is larger than 50 MB")
        problems.raise_if_any()
    try:
        data = json.loads(text)  # NaN/Infinity parse to floats: the fields then reject them
    except json.JSONDecodeError as error:
        problems.add("", f"not valid JSON: {error.msg} (column {error.colno})", error.lineno)
        problems.raise_if_any()
    except RecursionError:  # a `[[[[...` bomb: json recurses once per level
        problems.add("", f"nested more than {MAX_CONFIG_DEPTH} levels deep", _too_deep_at(text))
        problems.raise_if_any()
    if not isinstance(data, dict) or data.get("type") != "FeatureCollection":
        problems.add("type", "expected a GeoJSON FeatureCollection at the top")
        problems.raise_if_any()
    features = data.get("features")
    if not isinstance(features, list):
        problems.add("features", "expected a list of features")
        problems.raise_if_any()
    fences: list[tuple[Fence, str, int | None]] = []
    for index, feature in enumerate(features):
        if problems.full:
            break
        where = f"features.{index}"
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            problems.add(f"{where}.type", 'expected an object with "type": "Feature"')
            continue
        properties = feature.get("properties") or {}
        if not isinstance(properties, dict):
            problems.add(f"{where}.properties", "expected an object")
            continue
        fence_id = feature.get("id", properties.get("id"))
        id_field = f"{where}.id" if "id" in feature else f"{where}.properties.id"
        if fence_id is None:
            problems.add(f"{where}.id", "missing: give the feature an id (or properties.id)")
            continue
        if isinstance(fence_id, int) and not isinstance(fence_id, bool):
            fence_id = str(fence_id)
        geometry = _geometry(feature.get("geometry"), properties, where, problems)
        metadata = {k: v for k, v in properties.items() if k not in _RESERVED}
        nested = [k for k, v in metadata.items() if isinstance(v, dict | list)]
        for key in nested:
            problems.add(f"{where}.properties.{key}", "metadata values must be plain values")
        if geometry is None or nested:
            continue
        data_fence = {
            "id": fence_id,
            "name": properties.get("name"),
            "geometry": geometry,
            "tags": _tags(properties.get("tags", [])),
            "metadata": metadata,
        }
        short_id = id_field.removeprefix(f"{where}.")
        fence = _validate_fence(data_fence, f"{where}.", short_id, problems)
        if fence is not None:
            fences.append((fence, id_field, None))
    title = name if name is not None else data.get("name")
    return _finish(fences, problems, set_id, version, title if isinstance(title, str) else None)


def _too_deep_at(text: str) -> int | None:
    """The line where JSON nesting first passes MAX_CONFIG_DEPTH (strings skipped)."""
    depth = 0
    for match in _JSON_BRACKETS.finditer(text):
        bracket = match.group()
        if bracket in "[{":
            depth += 1
            if depth > MAX_CONFIG_DEPTH:
                return text.count("\n", 0, match.start()) + 1
        elif bracket in "]}":
            depth -= 1
    return None


def parse_csv(
    text: str, *, source: str, set_id: str, version: int = 1, name: str | None = None
) -> FenceSet:
    """A FenceSet of circles from CSV; ConfigError lists problems by line and column."""
    problems = _Problems(source)
    if len(text.encode("utf-8", "replace")) > MAX_IMPORT_BYTES:
        problems.add("", "file is larger than 50 MB")
        problems.raise_if_any()
    lines = [
        (number, line)
        for number, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        problems.add("", "no header row")
        problems.raise_if_any()
    reader = csv.reader(io.StringIO("\n".join(line for _, line in lines)))
    rows: list[list[str]] = []
    try:
        rows.extend(reader)
    except csv.Error as error:  # e.g. a field past the csv module's size limit
        number = lines[min(max(reader.line_num, 1), len(lines)) - 1][0]
        message = str(error)
        if "field limit" in message:
            message = f"a field is longer than {csv.field_size_limit()} characters"
        problems.add("", f"not valid CSV: {message}", number)
        problems.raise_if_any()
    header = [column.strip() for column in rows[0]]
    missing = [c for c in ("id", "name", "lat", "lng", "radius_m") if c not in header]
    if missing:
        problems.add("", f"header lacks column(s) {', '.join(missing)}", lines[0][0])
        problems.raise_if_any()
    fences: list[tuple[Fence, str, int | None]] = []
    for (number, _), row in zip(lines[1:], rows[1:], strict=False):
        if problems.full:
            break
        if len(row) != len(header):
            problems.add("", f"expected {len(header)} columns, found {len(row)}", number)
            continue
        record = {column: value.strip() for column, value in zip(header, row, strict=True)}
        values: dict[str, Any] = {}
        bad = False
        for column in ("lat", "lng", "radius_m"):
            try:
                values[column] = float(record[column])
            except ValueError:
                problems.add(column, f"not a number: {record[column][:40]!r}", number)
                bad = True
        if bad:
            continue
        data_fence = {
            "id": record["id"],
            "name": record["name"],
            "geometry": {"type": "circle", **values},
            "tags": _tags(record.get("tags", "")),
            "metadata": {k: v for k, v in record.items() if k not in _RESERVED | {"lat", "lng"}},
        }
        fence = _validate_fence(data_fence, "", "id", problems, number)
        if fence is not None:
            fences.append((fence, "id", number))
    return _finish(fences, problems, set_id, version, name)


def load_fence_set_file(
    path: str | Path, *, set_id: str | None = None, version: int = 1, name: str | None = None
) -> FenceSet:
    """Read a .geojson/.json or .csv file; the set id defaults to the file's stem."""
    path = Path(path)
    source = str(path)
    text = read_config_file(source, MAX_IMPORT_BYTES)  # the size is checked before reading
    chosen = set_id if set_id is not None else path.stem.lower().replace(" ", "-")
    if path.suffix.lower() == ".csv":
        return parse_csv(text, source=source, set_id=chosen, version=version, name=name)
    if path.suffix.lower() in (".geojson", ".json"):
        return parse_geojson(text, source=source, set_id=chosen, version=version, name=name)
    raise ConfigError([ConfigProblem(source, None, "", "expected a .geojson, .json or .csv file")])
