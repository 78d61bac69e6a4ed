"""Pinpoint segment definitions -> Nudge named segments (pure; see pinpoint_campaigns.py).

Attribute names follow the endpoint import (`attribute_name`), so a converted segment tests the
attributes `nudge import pinpoint-endpoints` wrote: endpoint and user attributes and metrics
under their own names, `platform`, `app_version` and `country` from the demographic/location.
A condition Nudge cannot express is reported and left out (the audience is then wider than in
Pinpoint: the campaigns are written as drafts for that reason).
"""

from __future__ import annotations

import math
import re
from typing import Any

from nudge.domain.migration.pinpoint_endpoints import attribute_name
from nudge.domain.migration.pinpoint_reading import PinpointFormatError, Reader, join

RECENCY_DAYS = {"HR_24": 1, "DAY_7": 7, "DAY_14": 14, "DAY_30": 30}
PLATFORMS = {"android": "android", "ios": "ios", "ipados": "ios", "web": "web"}
MAX_RADIUS_KM = 500  # Near.radius_km's bound
# Demographic dimensions -> the profile attribute the endpoint import sets
DEMOGRAPHIC_ATTRIBUTES = {"AppVersion": "app_version", "Platform": "platform"}
DEMOGRAPHIC_REASONS = {
    "Channel": "every Nudge device is reached through FCM: there is no channel to choose",
    "DeviceType": "the device type (phone, tablet) is not kept on Nudge profiles",
    "Make": "the device make is not kept on Nudge profiles",
    "Model": "the device model is not kept on Nudge profiles",
}
SEGMENT_REASONS = {
    "ImportDefinition": "imported (static) segments have no rules to convert",
    "tags": "Nudge segments have no tags",
    "Tags": "Nudge segments have no tags",
}
_SLUG = re.compile(r"[^a-z0-9_\-]+")


def slug(text: str, limit: int) -> str:
    """A Nudge id from a Pinpoint name: lowercase letters, digits, - and _."""
    return _SLUG.sub("-", text.strip().lower()).strip("-_")[:limit].strip("-_")


def unique(name: str, taken: set[str]) -> str:
    """`name`, or name-2, name-3... when it is taken."""
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name[:60]}-{n}", n + 1
    return candidate


def combine(how: str, parts: list[dict[str, Any]]) -> dict[str, Any]:
    """ALL / ANY / NONE of segment conditions ({} is everyone, {"not": {}} nobody)."""
    if how == "ALL":
        kept = [part for part in parts if part]
        return kept[0] if len(kept) == 1 else ({"all": kept} if kept else {})
    if not parts:
        return {}  # any or none of no conditions: nothing to test
    if any(not part for part in parts):
        either: dict[str, Any] = {}  # any of them is everyone
    else:
        either = parts[0] if len(parts) == 1 else {"any": parts}
    return either if how == "ANY" else {"not": either}


def metric_test(operator: str, value: float) -> dict[str, float] | None:
    """A Pinpoint ComparisonOperator as gte/lte (strict bounds: the next float over)."""
    return {
        "GREATER_THAN": {"gte": math.nextafter(value, math.inf)},
        "GREATER_THAN_OR_EQUAL": {"gte": value},
        "LESS_THAN": {"lte": math.nextafter(value, -math.inf)},
        "LESS_THAN_OR_EQUAL": {"lte": value},
        "EQUAL": {"gte": value, "lte": value},
    }.get(operator)


class Conditions:
    """The conditions of one SegmentDimensions object: all must hold."""

    def __init__(self) -> None:
        self.positive: dict[str, Any] = {}
        self.negative: list[dict[str, Any]] = []

    def attribute(self, name: str, test: Any, include: bool = True) -> None:
        if include:
            self.positive.setdefault("attributes", {})[name] = test
        else:
            self.negative.append({"attributes": {name: test}})

    def result(self) -> dict[str, Any]:
        out = dict(self.positive)
        if self.negative:
            out["not"] = self.negative[0] if len(self.negative) == 1 else {"any": self.negative}
        return out


def convert_dimensions(reader: Reader, dims: dict[str, Any], path: str) -> dict[str, Any]:
    """One Pinpoint SegmentDimensions object as one Nudge segment."""
    found = Conditions()
    for key in ("Attributes", "UserAttributes"):
        for name, test in reader.entries(dims, key, path):
            _attribute(reader, found, name, test, join(join(path, key), name))
    for name, test in reader.entries(dims, "Metrics", path):
        where = join(join(path, "Metrics"), name)
        operator = reader.get(test, "ComparisonOperator", where, "a string")
        value = reader.get(test, "Value", where, "a number")
        bound = metric_test(operator or "", float(value)) if value is not None else None
        if bound is None:
            reader.report(where, f"comparison {operator!r} is not one Nudge knows")
            continue
        found.attribute(attribute_name(name), bound)
    behavior = reader.mapping(dims, "Behavior", path)
    if behavior:
        _recency(reader, found, reader.mapping(behavior, "Recency", join(path, "Behavior")), path)
    demographic = reader.mapping(dims, "Demographic", path)
    for key in list(demographic):
        where = join(join(path, "Demographic"), key)
        if key in DEMOGRAPHIC_REASONS:
            reader.report(where, DEMOGRAPHIC_REASONS[key])
        elif key in DEMOGRAPHIC_ATTRIBUTES:
            attribute = DEMOGRAPHIC_ATTRIBUTES[key]
            _set_dimension(reader, found, attribute, demographic, key, join(path, "Demographic"))
    location = reader.mapping(dims, "Location", path)
    if location:
        where = join(path, "Location")
        if "Country" in location:
            _set_dimension(reader, found, "country", location, "Country", where)
        _gps(reader, found, reader.mapping(location, "GPSPoint", where), join(where, "GPSPoint"))
    return found.result()


def _values(reader: Reader, test: dict[str, Any], where: str, kind_key: str) -> tuple[str, list]:
    kind = reader.get(test, kind_key, where, "a string") or "INCLUSIVE"
    return kind, reader.strings(test, "Values", where)


def _attribute(reader: Reader, found: Conditions, name: str, test: Any, where: str) -> None:
    kind, values = _values(reader, test, where, "AttributeType")
    if kind in ("INCLUSIVE", "EXCLUSIVE") and values:
        found.attribute(attribute_name(name), values, include=kind == "INCLUSIVE")
    elif kind == "CONTAINS":
        reader.report(where, "CONTAINS (substring) tests don't exist in Nudge segments")
    elif kind in ("BEFORE", "AFTER", "ON", "BETWEEN"):
        reader.report(where, f"{kind} (date) tests on attributes don't exist in Nudge segments")
    else:
        reader.report(where, f"attribute type {kind!r} with values {values!r} not converted")


def _set_dimension(
    reader: Reader, found: Conditions, attribute: str, obj: dict[str, Any], key: str, path: str
) -> None:
    test = reader.mapping(obj, key, path)
    where = join(path, key)
    kind, values = _values(reader, test, where, "DimensionType")
    if attribute == "platform":
        unknown = [v for v in values if v.strip().lower() not in PLATFORMS]
        if unknown:
            reader.report(join(where, "Values"), f"platforms {unknown} are not ios/android/web")
        values = sorted({PLATFORMS[v.strip().lower()] for v in values if v not in unknown})
    elif attribute == "country":
        values = [value.strip().upper() for value in values]
    if not values or kind not in ("INCLUSIVE", "EXCLUSIVE"):
        reader.report(where, f"{kind} {values!r}: nothing Nudge can test")
        return
    found.attribute(attribute, values, include=kind == "INCLUSIVE")


def _recency(reader: Reader, found: Conditions, recency: dict[str, Any], path: str) -> None:
    if not recency:
        return
    where = join(join(path, "Behavior"), "Recency")
    duration = reader.get(recency, "Duration", where, "a string")
    kind = reader.get(recency, "RecencyType", where, "a string")
    days = RECENCY_DAYS.get(duration or "")
    if days is None or kind not in ("ACTIVE", "INACTIVE"):
        reader.report(where, f"recency {duration!r} {kind!r} is not one Pinpoint defines")
        return
    found.positive["recency"] = {"within_days" if kind == "ACTIVE" else "not_within_days": days}


def _gps(reader: Reader, found: Conditions, point: dict[str, Any], where: str) -> None:
    if not point:
        return
    coordinates = reader.mapping(point, "Coordinates", where)
    lat = reader.get(coordinates, "Latitude", join(where, "Coordinates"), "a number")
    lng = reader.get(coordinates, "Longitude", join(where, "Coordinates"), "a number")
    radius = reader.get(point, "RangeInKilometers", where, "a number")
    if lat is None or lng is None:
        raise PinpointFormatError(reader.source, join(where, "Coordinates"), "needs both")
    for key, value, bound in (("Latitude", lat, 90), ("Longitude", lng, 180)):
        if not -bound <= value <= bound:
            where_key = join(join(where, "Coordinates"), key)
            raise PinpointFormatError(reader.source, where_key, f"from -{bound} to {bound}")
    if radius is None or not 0 < radius <= MAX_RADIUS_KM:
        reader.report(where, f"a range of {radius!r} km: Nudge's is above 0 and at most 500 km")
        return
    found.positive["location"] = {"near": {"lat": lat, "lng": lng, "radius_km": radius}}
    reader.report(
        where,
        "carried over as location.near, which tests the last location the app reported in "
        "the last 7 days (Pinpoint used the endpoint's stored location)",
    )


def convert_segment(reader: Reader, names_by_id: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """(name, Nudge segment) for one Pinpoint segment document."""
    doc = reader.document
    reader.unknown_reasons.update(SEGMENT_REASONS)
    pinpoint_name = reader.get(doc, "Name", "", "a string")
    segment_id = reader.get(doc, "Id", "", "a string")
    name = slug(pinpoint_name or "", 64) or slug(f"pinpoint-{segment_id or ''}", 64)
    if not name:
        raise PinpointFormatError(reader.source, "Name", "missing: a segment needs a name")
    if reader.get(doc, "SegmentType", "", "a string") == "IMPORT":
        attribute = f"pinpoint_segment_{name.replace('-', '_')}"[:64]
        reader.report(
            "SegmentType",
            f"an imported (static) list: written as the attribute test {attribute}: true; "
            "set it on those users with a user_attributes event",
        )
        return name, {"attributes": {attribute: [True]}}
    parts = []
    dims = reader.mapping(doc, "Dimensions", "")
    if dims:
        parts.append(convert_dimensions(reader, dims, "Dimensions"))
    groups = reader.mapping(doc, "SegmentGroups", "")
    if groups:
        parts.append(_groups(reader, groups, names_by_id))
    return name, combine("ALL", parts)


def _groups(reader: Reader, groups: dict[str, Any], names_by_id: dict[str, str]) -> dict[str, Any]:
    include = reader.get(groups, "Include", "SegmentGroups", "a string") or "ALL"
    converted = []
    for index, group in enumerate(reader.objects(groups, "Groups", "SegmentGroups")):
        where = f"SegmentGroups.Groups[{index}]"
        sources = []
        for at, source in enumerate(reader.objects(group, "SourceSegments", where)):
            source_where = f"{where}.SourceSegments[{at}]"
            source_id = reader.get(source, "Id", source_where, "a string")
            reader.consumed(join(source_where, "Version"))
            if source_id in names_by_id:
                sources.append({"segment": names_by_id[source_id]})
            else:
                reader.report(source_where, f"segment {source_id!r} was not given (--segment)")
        source_type = reader.get(group, "SourceType", where, "a string") or "ALL"
        dims = [
            convert_dimensions(reader, d, f"{where}.Dimensions[{i}]")
            for i, d in enumerate(reader.objects(group, "Dimensions", where))
        ]
        kind = reader.get(group, "Type", where, "a string") or "ALL"
        for what, value in (("SourceType", source_type), ("Type", kind)):
            if value not in ("ALL", "ANY", "NONE"):
                raise PinpointFormatError(reader.source, join(where, what), "ALL, ANY or NONE")
        parts = [combine(source_type, sources)] if sources else []
        converted.append(combine("ALL", [*parts, combine(kind, dims)] if dims else parts))
    if include not in ("ALL", "ANY", "NONE"):
        raise PinpointFormatError(reader.source, "SegmentGroups.Include", "ALL, ANY or NONE")
    return combine(include, converted)
