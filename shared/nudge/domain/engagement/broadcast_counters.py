"""A broadcast's outcome counters: how many of its messages were delivered, failed (by FCM
error code), suppressed (by reason) and opened, and the opt-outs blamed on them (by kind).

One named counter per broadcast, `broadcast#<id>` (sharded like every named counter), moved in
the same conditional write as what it counts: a job's first delivered device and its first
open behind a marker item each, so each counts once per user however often a job or an open
event is redelivered; a failure once per device record, a suppression once per job, an
opt-out once per opt-out event (in the profile's write, with the campaign counters).
A job still queued when its broadcast is cancelled is suppressed with reason `cancelled`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nudge.domain.engagement.counters import field_detail, fields_under

SOURCE_PREFIX = "broadcast:"  # a broadcast's push jobs carry source 'broadcast:<id>'
OPENED_MARKER = "#=opened"  # delivery log sk suffix: the user's open of the job was counted
CANCELLED = "cancelled"  # suppression reason: the broadcast was cancelled before the send


def broadcast_of(source: str | None) -> str | None:
    """The broadcast a message belongs to, from its job's source (None: not a broadcast's)."""
    if source is None or not source.startswith(SOURCE_PREFIX):
        return None
    return source[len(SOURCE_PREFIX) :] or None


def counter_name(broadcast_id: str) -> str:
    return f"broadcast#{broadcast_id}"


def outcome_delta(
    source: str | None, kind: str, reason: str | None = None
) -> dict[str, dict[str, int]] | None:
    """The counter delta of one outcome (delivered, failed, suppressed, opened); None when the
    message is no broadcast's."""
    broadcast = broadcast_of(source)
    if broadcast is None:
        return None
    field = kind if kind in ("delivered", "opened") else f"{kind}.{field_detail(reason)}"
    return {counter_name(broadcast): {field: 1}}


def outcome_summary(fields: Mapping[str, int]) -> dict[str, Any]:
    """The stored fields as the broadcast's report: totals, breakdowns and the open rate
    (None until something was delivered)."""

    def by_detail(kind: str) -> dict[str, int]:
        return dict(sorted(fields_under(fields, f"{kind}.").items()))

    delivered, opened = fields.get("delivered", 0), fields.get("opened", 0)
    failed, suppressed = by_detail("failed"), by_detail("suppressed")
    opt_outs = by_detail("opt_out")
    return {
        "delivered": delivered,
        "failed": sum(failed.values()),
        "failed_by_code": failed,
        "suppressed": sum(suppressed.values()),
        "suppressed_by_reason": suppressed,
        "opened": opened,
        "open_rate": round(opened / delivered, 4) if delivered else None,
        "opt_outs": sum(opt_outs.values()),
        "opt_outs_by_kind": opt_outs,
    }
