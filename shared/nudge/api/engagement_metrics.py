"""Engagement counts as CloudWatch metrics (Powertools EMF), dimensioned by category only.

Per campaign or variant metrics would be high cardinality: those live in the campaign
counters and reports. Category (transactional, marketing, ...) is a handful of values: ops
alarm on e.g. OptOuts{category=marketing}.
"""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools.metrics import MetricUnit, single_metric

METRIC_NAMES = {
    "sent": "EngagementSent",
    "delivered": "EngagementDelivered",
    "failed": "EngagementFailed",
    "opened": "EngagementOpened",
    "opt_out": "EngagementOptOuts",
}


def emit(counts: Mapping[tuple[str, str], int]) -> None:
    """One metric per (kind, category); kinds without a metric name are skipped."""
    for (kind, category), value in sorted(counts.items()):
        name = METRIC_NAMES.get(kind)
        if name is None or value <= 0:
            continue
        with single_metric(name=name, unit=MetricUnit.Count, value=value) as metric:
            metric.add_dimension("category", category or "unknown")
