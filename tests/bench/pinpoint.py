"""Pinpoint endpoint import: endpoints imported per second and DynamoDB write units per
endpoint (WriteMeter), on moto tables from template.yaml, for a first run and a re-run.

`run_pinpoint_bench()` returns the lines; `python -m tests.bench.pinpoint` prints them.
Moto answers far faster than DynamoDB over the network, so the rate is an upper bound of
the import's own work (parsing, mapping, compare-before-write); the write units are exact.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ENDPOINTS = 1000


def run_pinpoint_bench(endpoints: int = ENDPOINTS) -> list[str]:
    from moto import mock_aws

    from nudge.adapters.devices import DynamoDeviceStore
    from nudge.adapters.dynamodb import DynamoProfileStore
    from nudge.adapters.history import DynamoHistoryStore
    from nudge.adapters.metering import WriteMeter
    from nudge.clock import ManualClock
    from nudge.domain.config import EngagementConfig
    from nudge.services.migration.pinpoint_endpoints import EndpointImporter
    from nudge_cli.pinpoint_endpoints import run_import
    from nudge_cli.pinpoint_sources import find_parts
    from tests.bench.run import moto_tables
    from tests.unit.test_pinpoint_endpoints_export import write_export

    lines = []
    with tempfile.TemporaryDirectory() as folder, mock_aws():
        export = write_export(Path(folder), endpoints=endpoints, parts=4, broken=False)
        parts = find_parts([str(p) for p in export.parts], lambda: None)
        ddb = moto_tables()
        meter = WriteMeter()
        importer = EndpointImporter(
            DynamoProfileStore("ProfilesTable", meter, ddb),
            DynamoDeviceStore("DevicesTable", meter, ddb),
            DynamoHistoryStore("HistoryTable", meter, ddb),
            EngagementConfig(),
            ManualClock(datetime(2026, 11, 2, tzinfo=UTC)),
        )
        for label in ("first run", "re-run   "):
            meter.reset()
            started = time.perf_counter()
            report = run_import(parts, importer, meter)
            elapsed = time.perf_counter() - started
            data = report.as_json()
            lines.append(
                f"{label}: {data['endpoints']} endpoints ({data['users']} users, "
                f"{data['devices']} devices) at {data['endpoints'] / elapsed:,.0f} endpoints/s, "
                f"{meter.total / data['endpoints']:.2f} write units per endpoint "
                f"({meter.writes} writes)"
            )
    return lines


if __name__ == "__main__":
    for line in run_pinpoint_bench():
        print(line)
