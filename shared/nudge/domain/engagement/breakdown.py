"""Campaign response by region, stage, platform and named segment (issue 22, item 1). Pure.

The cell
    At a send (or a holdout's would-be send) the user's cell is worked out once and kept with
    the send in the profile (`SendRecord.cell`, `Exposure.cell`): country, region, city,
    lifecycle stage, platform, and the named segments the user was in (at most
    MAX_SEGMENTS, by name). The open, conversion or opt-out that comes later is counted in
    that same cell, so the rates stay consistent when the user moves or changes stage.
    Segments are evaluated only there, never on every event.

    country  the profile's `country` attribute (an import, `user_attributes`, or the
             device's locale as devices_api reports it), else the `locale` attribute's
    region   the `region` attribute, else the geofence the user was last seen in
    city     the `city` attribute

The counters
    One counter per (campaign, UTC day, cell): `cells#<campaign>#<day number>#<cell key>`
    (the cell key without its segments), with a field per metric (short codes, CODES) and
    per exposed-side metric and segment (`<code>.<segment>`; segment names have no dot).
    With up to MAX_SEGMENTS segments of short names an item stays under 1 KB. They ride in the
    CampaignPass counters, so they go in the same conditional write as the fact they count
    (the profile's transaction): exactly once, whatever is redelivered or reordered.
    Storage: adapters/breakdown.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, NamedTuple, get_args

from nudge.domain.profiles.segments import UnknownSegment, matches
from nudge.domain.stats import Rate
from nudge.models.profile import Profile
from nudge.models.segment import Segment

Dimension = Literal["country", "region", "city", "stage", "platform", "segment"]
DIMENSIONS: tuple[str, ...] = get_args(Dimension)
Metric = Literal["sent", "holdout", "opened", "converted", "holdout_converted", "opt_out"]
METRICS: tuple[str, ...] = get_args(Metric)
# stored field names: short, so a cell item with several segments stays well under 1 KB
CODES: dict[str, str] = {
    "sent": "s",
    "holdout": "h",
    "opened": "o",
    "converted": "c",
    "holdout_converted": "hc",
    "opt_out": "x",
}
METRIC_OF = {code: metric for metric, code in CODES.items()}
UNKNOWN = "unknown"
PREFIX = "cells#"
MAX_SEGMENTS = 8  # named segments recorded per send (alphabetical): bounds profile and item
# per segment only the exposed side: with 8 segments of short names a cell item stays under
# 1 KB (one write unit); the holdout (lift) is broken down by the other dimensions
SEGMENT_METRICS = frozenset({"sent", "opened", "converted", "opt_out"})
MAX_PART = 40  # characters kept of a region or city name
_BASE_PARTS = 5  # country, region, city, stage, platform
DAY = 86_400


class ResponseCell(NamedTuple):
    country: str = ""
    region: str = ""
    city: str = ""
    stage: str = ""
    platform: str = ""
    segments: tuple[str, ...] = ()

    @property
    def base(self) -> str:
        """The counter's key part: everything but the segments."""
        return "|".join((self.country, self.region, self.city, self.stage, self.platform))

    def key(self) -> str:
        """What the profile keeps with the send: 'NL|Noord-Holland|Haarlem|active|ios|a,b'."""
        return f"{self.base}|{','.join(self.segments)}"

    @classmethod
    def parse(cls, key: str) -> ResponseCell:
        """The inverse of key() (a base key alone, or a short or empty string, parse too)."""
        parts = (key.split("|") + [""] * (_BASE_PARTS + 1))[: _BASE_PARTS + 1]
        segments = tuple(s for s in parts[_BASE_PARTS].split(",") if s)
        country, region, city, stage, platform = parts[:_BASE_PARTS]
        return cls(country, region, city, stage, platform, segments)


def clean(value: object, limit: int = MAX_PART) -> str:
    """A value as one part of a cell key: no separators, trimmed, bounded."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        return ""
    text = str(value).strip()
    for separator in "|#,.":
        text = text.replace(separator, " ")
    return " ".join(text.split())[:limit]


def country_of_locale(locale: object) -> str:
    """'nl-NL' / 'pt_BR' -> 'NL' / 'BR'; a bare language names no country."""
    if not isinstance(locale, str):
        return ""
    regions = [p for p in locale.replace("_", "-").split("-")[1:] if len(p) == 2 and p.isalpha()]
    return regions[0].upper() if regions else ""


def last_fence(geo: Mapping[str, Any] | None) -> str:
    """The fence the geofence state saw the user at last (inside ones first)."""
    fences = (geo or {}).get("fences") or {}
    if not isinstance(fences, Mapping):
        return ""
    ranked = sorted(
        (
            (bool(p.get("inside")), str(p.get("last_at") or ""), key)
            for key, p in fences.items()
            if isinstance(p, Mapping)
        ),
        reverse=True,
    )
    return clean(ranked[0][2], 64) if ranked else ""


def cell_of(profile: Profile, in_segment: Callable[[str], bool], names: Iterable[str]) -> str:
    """The user's cell key now. `in_segment(name)`: is the user in that named segment."""
    attributes = {name: attribute.value for name, attribute in profile.attributes.items()}
    country = clean(attributes.get("country"), 2).upper()
    if len(country) != 2 or not country.isalpha():
        country = country_of_locale(attributes.get("locale"))
    segments: list[str] = []
    for name in sorted(names):
        if len(segments) == MAX_SEGMENTS:
            break
        if in_segment(name):
            segments.append(name)
    return ResponseCell(
        country,
        clean(attributes.get("region")) or last_fence(profile.geo),
        clean(attributes.get("city")),
        profile.stage.value if profile.stage else "",
        clean(attributes.get("platform"), 16).lower(),
        tuple(segments),
    ).key()


def cell_reader(
    profile: Profile, named: Mapping[str, Segment], now: int, half_life_days: float
) -> Callable[[], str]:
    """The user's cell, worked out on first need (a send) and then kept for the pass."""
    cache: list[str] = []

    def in_segment(name: str) -> bool:
        try:
            return matches(named[name], profile, now, named, half_life_days=half_life_days)
        except UnknownSegment:  # a set published before the check: simply not in it
            return False

    def read() -> str:
        if not cache:
            cache.append(cell_of(profile, in_segment, named))
        return cache[0]

    return read


def counter_name(campaign: str, at: int, cell: str) -> str:
    return f"{PREFIX}{campaign}#{at // DAY}#{ResponseCell.parse(cell).base}"


def increments(cell: str, metric: str) -> dict[str, int]:
    """Fields one fact adds to its cell's counter: the metric, and per segment."""
    code = CODES[metric]
    if metric not in SEGMENT_METRICS:
        return {code: 1}
    return {code: 1, **{f"{code}.{s}": 1 for s in ResponseCell.parse(cell).segments}}


def parse_name(name: str) -> tuple[str, int, str] | None:
    """'cells#<campaign>#<day>#<base>' -> (campaign, day number, base); None otherwise."""
    if not name.startswith(PREFIX):
        return None
    campaign, _, rest = name[len(PREFIX) :].partition("#")
    day, _, base = rest.partition("#")
    return (campaign, int(day), base) if campaign and day.isdigit() else None


def day_number(iso_day: str) -> int:
    return date.fromisoformat(iso_day).toordinal() - date(1970, 1, 1).toordinal()


def tally(items: Iterable[tuple[str, Mapping[str, int]]]) -> dict[tuple[str, str], Counter[str]]:
    """Stored cells (base key, fields) -> (dimension, value) -> metric -> count.

    Fields a newer writer added (unknown codes) are left out, never guessed."""
    result: dict[tuple[str, str], Counter[str]] = {}

    def add(dimension: str, value: str, metric: str, amount: int) -> None:
        result.setdefault((dimension, value or UNKNOWN), Counter())[metric] += amount

    for base, fields in items:
        cell = ResponseCell.parse(base)
        for field, amount in fields.items():
            code, _, segment = field.partition(".")
            metric = METRIC_OF.get(code)
            if metric is None or not amount:
                continue
            if segment:
                add("segment", segment, metric, amount)
                continue
            for dimension in DIMENSIONS[:-1]:
                add(dimension, getattr(cell, dimension), metric, amount)
    return result


# --- the report ------------------------------------------------------------------------------

RankBy = Literal["open", "conversion", "opt_out"]


@dataclass(frozen=True)
class BreakdownRow:
    """One value of a dimension (a country, a stage...): its rates with 95 % intervals."""

    value: str
    sent: int
    holdout: int
    open: Rate  # opened / sent
    conversion: Rate  # converted / sent
    opt_out: Rate  # opt-outs / sent
    holdout_conversion: Rate  # the holdout's converted / holdout (lift by cell)
    enough: bool  # sent >= the minimum: below it the rates are "too little data"

    def rate(self, by: RankBy) -> Rate:
        return {"open": self.open, "conversion": self.conversion, "opt_out": self.opt_out}[by]


def rows(
    cells: Mapping[tuple[str, str], Mapping[str, int]],
    by: str,
    min_group: int,
    rank_by: RankBy = "conversion",
) -> list[BreakdownRow]:
    """The rows of one dimension, ranked: cells with enough sends first, by the lower end of
    the ranked rate's interval (a small cell's lucky streak does not come first; opt-outs
    lowest first), then the small cells by sends."""
    found = []
    for (dimension, value), counts in cells.items():
        if dimension != by:
            continue
        sent, holdout = counts.get("sent", 0), counts.get("holdout", 0)
        found.append(
            BreakdownRow(
                value=value,
                sent=sent,
                holdout=holdout,
                open=Rate(counts.get("opened", 0), sent),
                conversion=Rate(counts.get("converted", 0), sent),
                opt_out=Rate(counts.get("opt_out", 0), sent),
                holdout_conversion=Rate(counts.get("holdout_converted", 0), holdout),
                enough=sent >= min_group,
            )
        )

    def rank(row: BreakdownRow) -> tuple[bool, float, int, str]:
        interval = row.rate(rank_by).interval_pct
        if not row.enough or interval is None:
            return True, 0.0, -row.sent, row.value
        bound = interval[1] if rank_by == "opt_out" else -interval[0]
        return False, bound, -row.sent, row.value

    return sorted(found, key=rank)
