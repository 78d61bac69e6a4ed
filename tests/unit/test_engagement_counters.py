"""Engagement counters: per-record increments, exactly-once by id, equal to a recount."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nudge.domain.engagement.attribution import (
    HOLDOUT,
    RECORD_KINDS,
    UNATTRIBUTED,
    Cell,
    EngagementCounters,
    EngagementRecord,
    overall,
    record_increments,
    recount,
    totals,
    unattributed,
)

MONDAY = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())  # 2026-03-02 00:00:00 UTC
DAY = 86_400


def rec(
    record_id: str,
    kind: str,
    at: int = MONDAY + 3_600,
    campaign: str = "spring-sale",
    variant: str = "a",
    format: str = "text",
    category: str = "marketing",
    reason: str | None = None,
) -> EngagementRecord:
    return EngagementRecord(record_id, kind, at, campaign, variant, format, category, reason)


CELL = Cell("spring-sale", "a", "text", "marketing", "2026-03-02")


@pytest.mark.parametrize(
    ("kind", "reason", "expected"),
    [
        ("targeted", None, {"targeted": 1}),
        ("sent", None, {"sent": 1}),
        ("delivered", None, {"delivered": 1}),
        ("opened", None, {"opened": 1}),
        ("converted", None, {"converted": 1}),
        ("suppressed", "quiet_hours", {"suppressed": 1, "suppressed.quiet_hours": 1}),
        ("failed", "UNREGISTERED", {"failed": 1, "failed.UNREGISTERED": 1}),
        ("failed", None, {"failed": 1, "failed.unknown": 1}),
        ("opt_out", "uninstall", {"opt_out": 1, "opt_out.uninstall": 1}),
        # a reason on a kind that has no breakdown is ignored
        ("opened", "whatever", {"opened": 1}),
    ],
)
def test_each_kind_counts_itself_and_its_reason(
    kind: str, reason: str | None, expected: dict[str, int]
) -> None:
    increments = record_increments(rec("r1", kind, reason=reason))
    assert increments == {(CELL, name): amount for name, amount in expected.items()}


def test_the_day_is_the_utc_day_of_the_records_own_time() -> None:
    last_second = record_increments(rec("r1", "sent", at=MONDAY + DAY - 1))
    next_day = record_increments(rec("r2", "sent", at=MONDAY + DAY))
    assert [cell.day for cell, _ in last_second] == ["2026-03-02"]
    assert [cell.day for cell, _ in next_day] == ["2026-03-03"]


def test_a_holdout_is_its_own_variant_so_lift_can_tell_the_groups_apart() -> None:
    counters = EngagementCounters()
    counters.apply(rec("h1", "holdout", variant=HOLDOUT, format=""))
    counters.apply(rec("h1-c", "converted", variant=HOLDOUT, format=""))
    holdout_cell = Cell("spring-sale", HOLDOUT, "", "marketing", "2026-03-02")
    assert counters.nonzero() == {holdout_cell: {"holdout": 1, "converted": 1}}


def test_a_redelivered_record_is_applied_once() -> None:
    counters = EngagementCounters()
    assert counters.apply(rec("r1", "delivered")) is True
    assert counters.apply(rec("r1", "delivered")) is False
    assert counters.apply_all([rec("r1", "delivered"), rec("r2", "opened")]) == 1
    assert counters.nonzero() == {CELL: {"delivered": 1, "opened": 1}}


def test_records_need_a_known_kind_and_an_id() -> None:
    with pytest.raises(ValueError, match="unknown record kind"):
        rec("r1", "clicked")
    with pytest.raises(ValueError, match="needs an id"):
        rec("", "sent")


def test_totals_per_dimension_and_period_leave_unattributed_out() -> None:
    counters = EngagementCounters()
    counters.apply_all(
        [
            rec("1", "delivered", campaign="spring-sale", format="text"),
            rec("2", "delivered", campaign="spring-sale", format="image"),
            rec("3", "delivered", campaign="welcome", format="image", at=MONDAY + DAY),
            rec("4", "opened", campaign="welcome", format="image", at=MONDAY + DAY),
            rec("5", "opt_out", campaign=UNATTRIBUTED, variant="", format="", reason="uninstall"),
        ]
    )
    cells = counters.cells
    assert totals(cells, "campaign") == {
        "spring-sale": Counter(delivered=2),
        "welcome": Counter(delivered=1, opened=1),
    }
    assert totals(cells, "format") == {
        "text": Counter(delivered=1),
        "image": Counter(delivered=2, opened=1),
    }
    assert totals(cells, "campaign", start="2026-03-03") == {
        "welcome": Counter(delivered=1, opened=1)
    }
    assert totals(cells, "campaign", end="2026-03-02") == {"spring-sale": Counter(delivered=2)}
    assert overall(cells) == Counter(delivered=3, opened=1)
    assert unattributed(cells) == Counter({"opt_out": 1, "opt_out.uninstall": 1})
    assert unattributed(cells, start="2026-03-03") == Counter()


def test_an_empty_period_or_log_gives_empty_totals() -> None:
    assert totals({}, "campaign") == {}
    assert overall({}) == Counter()
    assert recount([]).nonzero() == {}
    counters = EngagementCounters()
    counters.apply(rec("1", "sent"))
    assert totals(counters.cells, "campaign", start="2027-01-01") == {}


# --- exactly once == recount ----------------------------------------------------------------

KINDS = sorted(RECORD_KINDS)
REASONS: dict[str, list[str | None]] = {
    "suppressed": ["consent", "quiet_hours", "cap"],
    "failed": ["UNREGISTERED", "QUOTA_EXCEEDED", None],
    "opt_out": ["category", "permission", "uninstall"],
}


@st.composite
def a_record(draw: st.DrawFn, record_id: str) -> EngagementRecord:
    kind = draw(st.sampled_from(KINDS))
    return EngagementRecord(
        id=record_id,
        kind=kind,
        at=draw(st.integers(MONDAY - DAY, MONDAY + 3 * DAY)),
        campaign=draw(st.sampled_from(["c1", "c2", UNATTRIBUTED])),
        variant=draw(st.sampled_from(["a", "b", HOLDOUT])),
        format=draw(st.sampled_from(["text", "image", ""])),
        category=draw(st.sampled_from(["marketing", "product_updates"])),
        reason=draw(st.sampled_from(REASONS.get(kind, [None]))),
    )


@st.composite
def a_delivered_log(draw: st.DrawFn) -> tuple[list[EngagementRecord], list[EngagementRecord]]:
    """(the raw log, what was delivered): each record one to three times, shuffled."""
    count = draw(st.integers(0, 40))
    log = [draw(a_record(f"r{i}")) for i in range(count)]
    repeats = draw(st.lists(st.integers(1, 3), min_size=count, max_size=count))
    delivered = [record for record, times in zip(log, repeats, strict=True) for _ in range(times)]
    return log, draw(st.permutations(delivered))


@settings(max_examples=300, deadline=None)
@given(logs=a_delivered_log(), batch_size=st.integers(1, 7))
def test_folding_with_dedupe_equals_recounting_the_deduplicated_log(
    logs: tuple[list[EngagementRecord], list[EngagementRecord]], batch_size: int
) -> None:
    log, delivered = logs
    folded = EngagementCounters()
    for start in range(0, len(delivered), batch_size):  # as the consumer sees them: batches
        folded.apply_all(delivered[start : start + batch_size])
    assert folded.nonzero() == recount(log).nonzero()
    assert folded.seen == {record.id for record in log}
    # and the recount itself ignores duplicates and order
    assert recount(delivered).nonzero() == recount(log).nonzero()
    # every record counts once under its kind, whatever else it adds
    assert sum(c[kind] for c in folded.cells.values() for kind in KINDS) == len(log)
