"""Engagement analytics, collecting: opt-out attribution and incremental counters.

Opt-out attribution
    An opt-out - a category turned off in preferences, the OS permission revoked (as the app
    reports it), an uninstall (seen as UNREGISTERED from FCM) - is blamed on the last message
    the user received in the window before it:

        opt_out.at - window <= message.at <= opt_out.at        (both edges inclusive)

    A message exactly `window` seconds earlier counts, one second more does not; a message in
    the same second as the opt-out counts (timestamps are whole seconds). A message stamped
    after the opt-out is clock skew between device and server, never the cause: left out.
    Equal times are ordered by message id, so the input order never changes the answer. With
    no message in the window the opt-out is counted under the campaign UNATTRIBUTED; when the
    message blamed is no campaign's (a broadcast, a transactional or API message), under
    OTHER_MESSAGES. Both pool by category and stay out of the campaign baselines.
    A category opt-out only looks at messages of that category (config
    `match_opt_out_category`): turning marketing off says nothing about a receipt.
    Callers pass delivered messages only: a send that failed (UNREGISTERED included) was not
    received. An uninstall's time is when FCM told us, which may be long after the fact.

Counters
    Each delivery-log record (targeted, sent, holdout, suppressed with its reason, delivered,
    failed with its error code, opened, converted, an attributed opt-out) becomes counter
    increments in one cell per (campaign, variant, format, category, day). A record's
    increments depend on that record alone and are only ever added, so the counters are a
    sum over records: applying each record once by id, in any order and any batching, equals
    counting the deduplicated log afresh (tests/unit/test_engagement_counters.py checks it).
    Storage keeps that property by writing the id's dedupe marker and the increments in one
    transaction. An id names one fact: a redelivery repeats the record verbatim.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple, get_args

from nudge.clock import day_key

UNATTRIBUTED = "(unattributed)"  # not a valid campaign id, so it never collides with one
OTHER_MESSAGES = "(other messages)"  # broadcasts, transactional and API messages
NOT_CAMPAIGNS = frozenset({UNATTRIBUTED, OTHER_MESSAGES})
HOLDOUT = "holdout"  # the control group's variant, as in the campaign counters
UNKNOWN = "unknown"

RecordKind = Literal[
    "targeted",
    "sent",
    "holdout",
    "suppressed",
    "delivered",
    "failed",
    "opened",
    "converted",
    "opt_out",
]
RECORD_KINDS: frozenset[str] = frozenset(get_args(RecordKind))
# Kinds whose `reason` is also counted on its own: suppressed.quiet_hours, failed.UNREGISTERED,
# opt_out.uninstall.
DETAILED_KINDS = frozenset({"suppressed", "failed", "opt_out"})

OptOutKind = Literal["category", "permission", "uninstall"]
OPT_OUT_KINDS: frozenset[str] = frozenset(get_args(OptOutKind))


class Cell(NamedTuple):
    """One set of counters. `day` is the UTC day ('2026-03-02') of the record's own time."""

    campaign: str
    variant: str
    format: str
    category: str
    day: str


Increments = dict[tuple[Cell, str], int]  # (cell, counter name) -> amount to add


@dataclass(frozen=True, slots=True)
class EngagementRecord:
    """One delivery-log fact about one message (or one would-be message, for a holdout)."""

    id: str
    kind: RecordKind
    at: int  # epoch seconds
    campaign: str
    variant: str = ""
    format: str = ""
    category: str = ""
    reason: str | None = None  # suppression reason, FCM error code, or opt-out kind
    source: str | None = None  # an opt-out's blamed message's job source (broadcast:<id>...)
    cell: str = ""  # the response cell of the send it is about (domain/engagement/breakdown)

    def __post_init__(self) -> None:
        if self.kind not in RECORD_KINDS:
            raise ValueError(f"unknown record kind {self.kind!r}")
        if not self.id:
            raise ValueError("a record needs an id (duplicates are recognised by it)")


def record_increments(record: EngagementRecord) -> Increments:
    """What one record adds to the counters: its kind, and kind.reason where it has one."""
    cell = Cell(record.campaign, record.variant, record.format, record.category, day_key(record.at))
    increments: Increments = {(cell, record.kind): 1}
    if record.kind in DETAILED_KINDS:
        increments[(cell, f"{record.kind}.{record.reason or UNKNOWN}")] = 1
    return increments


@dataclass
class EngagementCounters:
    """Counters per cell, plus the ids already applied (storage: one marker item per id)."""

    cells: dict[Cell, Counter[str]] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def apply(self, record: EngagementRecord) -> bool:
        """Add the record's increments unless its id was applied before; True if applied."""
        if record.id in self.seen:
            return False
        self.seen.add(record.id)
        self.add(record_increments(record))
        return True

    def apply_all(self, records: Iterable[EngagementRecord]) -> int:
        return sum(self.apply(record) for record in records)

    def add(self, increments: Mapping[tuple[Cell, str], int]) -> None:
        for (cell, name), amount in increments.items():
            self.cells.setdefault(cell, Counter())[name] += amount

    def nonzero(self) -> dict[Cell, dict[str, int]]:
        """Cells with any non-zero counter (for comparing two ways of counting)."""
        result = {cell: {k: v for k, v in c.items() if v} for cell, c in self.cells.items()}
        return {cell: counts for cell, counts in result.items() if counts}


def recount(records: Iterable[EngagementRecord]) -> EngagementCounters:
    """Counters rebuilt from the raw log: each id once (a rebuild, or to check the fold)."""
    unique: dict[str, EngagementRecord] = {}
    for record in records:
        unique.setdefault(record.id, record)
    totals: Counter[tuple[Cell, str]] = Counter()
    for record in unique.values():
        totals.update(record_increments(record))
    result = EngagementCounters(seen=set(unique))
    result.add(totals)
    return result


# --- opt-out attribution ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """A message the user received: enough to blame it for an opt-out."""

    message_id: str
    campaign: str
    variant: str
    format: str  # how it was shown: "text", "image", ... (the caller's vocabulary)
    category: str
    at: int  # epoch seconds
    source: str | None = None  # the job's: campaign:<id>, broadcast:<id>, api... (if known)


@dataclass(frozen=True, slots=True)
class OptOut:
    opt_out_id: str
    kind: OptOutKind
    at: int  # epoch seconds
    category: str | None = None  # the category turned off (kind "category" only)

    def __post_init__(self) -> None:
        if self.kind not in OPT_OUT_KINDS:
            raise ValueError(f"unknown opt-out kind {self.kind!r}")
        if (self.kind == "category") != (self.category is not None):
            raise ValueError("a category opt-out names its category; other kinds name none")


@dataclass(frozen=True, slots=True)
class Attribution:
    opt_out: OptOut
    message: ReceivedMessage | None  # None: no message in the window ("unattributed")

    @property
    def attributed(self) -> bool:
        return self.message is not None

    def record(self) -> EngagementRecord:
        """The opt-out as a log record: counted in the blamed message's cell, on the day of
        the opt-out (its own event; a day's counters then only grow with that day's facts)."""
        opt_out, message = self.opt_out, self.message
        record_id = f"opt_out:{opt_out.opt_out_id}"
        if message is None:
            return EngagementRecord(
                record_id,
                "opt_out",
                opt_out.at,
                UNATTRIBUTED,
                category=opt_out.category or "",
                reason=opt_out.kind,
            )
        return EngagementRecord(
            record_id,
            "opt_out",
            opt_out.at,
            message.campaign,
            message.variant,
            message.format,
            message.category,
            reason=opt_out.kind,
            source=message.source,
        )


def _recency(message: ReceivedMessage) -> tuple[int, str, str, str, str, str]:
    """A total order on messages: later wins, equal times by id (then content)."""
    return (
        message.at,
        message.message_id,
        message.campaign,
        message.variant,
        message.format,
        message.category,
    )


def attribute_opt_out(
    opt_out: OptOut,
    messages: Iterable[ReceivedMessage],
    window_seconds: int,
    match_category: bool = True,
) -> Attribution:
    """Blame the opt-out on the user's most recent message in the window (see the module doc)."""
    if window_seconds < 0:
        raise ValueError("the attribution window cannot be negative")
    wanted = opt_out.category if match_category and opt_out.kind == "category" else None
    earliest = opt_out.at - window_seconds
    best: ReceivedMessage | None = None
    for message in messages:
        if wanted is not None and message.category != wanted:
            continue
        if not earliest <= message.at <= opt_out.at:  # after the opt-out: clock skew
            continue
        if best is None or _recency(message) > _recency(best):
            best = message
    return Attribution(opt_out, best)


def attribution_increments(attribution: Attribution) -> Increments:
    """Counter increments of one attribution: opt_out and opt_out.<kind> in its cell."""
    return record_increments(attribution.record())


# --- reading the counters ------------------------------------------------------------------

Dimension = Literal["campaign", "variant", "format", "category"]
Cells = Mapping[Cell, Mapping[str, int]]


def in_period(cell: Cell, start: str | None, end: str | None) -> bool:
    return (start is None or cell.day >= start) and (end is None or cell.day <= end)


def totals(
    cells: Cells, by: Dimension, start: str | None = None, end: str | None = None
) -> dict[str, Counter[str]]:
    """Counters summed per value of one dimension over days start..end (ISO, inclusive).

    Opt-outs blamed on no campaign belong to no campaign, variant or format: left out (see
    `unattributed`). An empty period gives an empty dict.
    """
    result: dict[str, Counter[str]] = {}
    for cell, counts in cells.items():
        if cell.campaign not in NOT_CAMPAIGNS and in_period(cell, start, end):
            result.setdefault(getattr(cell, by), Counter()).update(counts)
    return result


def overall(cells: Cells, start: str | None = None, end: str | None = None) -> Counter[str]:
    """Every campaign pooled (the app's baseline), opt-outs blamed on no campaign left out."""
    result: Counter[str] = Counter()
    for cell, counts in cells.items():
        if cell.campaign not in NOT_CAMPAIGNS and in_period(cell, start, end):
            result.update(counts)
    return result


def unattributed(
    cells: Cells,
    start: str | None = None,
    end: str | None = None,
    pool: str = UNATTRIBUTED,
) -> Counter[str]:
    """Opt-outs (opt_out, opt_out.<kind>) no message could be blamed for, or with
    `pool=OTHER_MESSAGES` those blamed on a message that was no campaign's."""
    result: Counter[str] = Counter()
    for cell, counts in cells.items():
        if cell.campaign == pool and in_period(cell, start, end):
            result.update(counts)
    return result
