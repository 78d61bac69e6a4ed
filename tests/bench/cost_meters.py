"""What one invocation costs besides its time: the bytes it logs, its custom metrics, its AWS
calls and DynamoDB read units (cost_measure.py uses these around each handler it invokes)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import math
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

REQUEST_ID = "2e0c3d5a-0d5b-4c1a-9f0a-6b1f3c1f2e77"


def platform_log_bytes(memory_mb: int, traced: bool) -> int:
    """Lambda's own lines per invocation (START, END, REPORT and its XRAY line)."""
    report = (
        f"REPORT RequestId: {REQUEST_ID}\tDuration: 23.45 ms\tBilled Duration: 24 ms\t"
        f"Memory Size: {memory_mb} MB\tMax Memory Used: 118 MB\t\n"
    )
    if traced:
        trace = "1-6752c1a0-5f1e2d3c4b5a69788796a5b4"
        report += f"XRAY TraceId: {trace}\tSegmentId: 1a2b3c4d5e6f7a8b\tSampled: true\t\n"
    start = f"START RequestId: {REQUEST_ID} Version: $LATEST\n"
    return len(start) + len(f"END RequestId: {REQUEST_ID}\n") + len(report)


def access_log_bytes(template: dict[str, Any], route: str, status: int) -> int:
    """The HTTP API's access log line for one request, rendered from the template's format."""
    api = next(
        r["Properties"]
        for r in template["Resources"].values()
        if r["Type"] == "AWS::Serverless::HttpApi"
    )
    line = " ".join(api["AccessLogSettings"]["Format"].split())
    sample = {
        "requestId": "Jq3dWhgHoAMEbvQ=",
        "requestTime": "06/Dec/2026:11:30:00 +0000",
        "routeKey": route,
        "status": str(status),
        "responseLatency": "23",
        "integrationLatency": "21",
        "responseLength": "42",
    }
    for name in sorted(set(_context_names(line)), key=len, reverse=True):
        line = line.replace(f"$context.{name}", sample.get(name.split(".")[-1], "-"))
    return len(line.encode()) + 1


def _context_names(line: str) -> list[str]:
    return re.findall(r"\$context\.([\w.]+)", line)


def read_units(operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> float:
    """DynamoDB read units of one call, from what it returned."""
    from nudge.adapters.dynamo_codec import item_size

    def units(size: int, consistent: bool, factor: float = 1.0) -> float:
        return max(1, math.ceil(size / 4096)) * (1.0 if consistent else 0.5) * factor

    if operation == "GetItem":
        item = parsed.get("Item")
        return units(item_size(item) if item else 0, bool(params.get("ConsistentRead")))
    if operation == "BatchGetItem":
        total = 0.0
        for table, request in params.get("RequestItems", {}).items():
            consistent = bool(request.get("ConsistentRead"))
            found = parsed.get("Responses", {}).get(table, [])
            left = parsed.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
            missing = len(request.get("Keys", [])) - len(found) - len(left)
            total += sum(units(item_size(i), consistent) for i in found)
            total += max(0, missing) * units(0, consistent)
        return total
    if operation in ("Query", "Scan"):
        size = sum(item_size(i) for i in parsed.get("Items", []))
        consistent = bool(params.get("ConsistentRead")) and not params.get("IndexName")
        return units(size, consistent)
    if operation == "TransactGetItems":
        return sum(
            units(item_size(r.get("Item") or {}), True, 2.0) for r in parsed.get("Responses", [])
        )
    return 0.0


@dataclass
class CallMeter:
    """AWS calls of the invocations: count, CPU spent inside them, DynamoDB read units."""

    calls: Counter[str] = field(default_factory=Counter)
    threaded: int = 0  # calls made off the main thread (side by side with others)
    cpu_s: float = 0.0
    rru: float = 0.0
    rru_by_call: dict[str, float] = field(default_factory=dict)  # "Operation Table" -> units

    def attach(self, client: Any) -> None:
        client.meta.events.register_first("before-parameter-build", self._start)
        client.meta.events.register("after-call", self._end)

    def _start(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        # the calling thread's CPU: calls made side by side (the history's dedupe Queries) must
        # not each count the others' CPU, as process-wide time would
        context["cost_started"] = time.thread_time()
        context["cost_params"] = params

    def _end(self, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        started = context.pop("cost_started", None)
        if started is None:
            return
        self.cpu_s += time.thread_time() - started
        self.calls[model.name] += 1
        self.threaded += threading.current_thread() is not threading.main_thread()
        if model.service_model.service_name == "dynamodb":
            params = context.pop("cost_params", {})
            units = read_units(model.name, params, parsed)
            if units:
                self.rru += units
                tables = params.get("TableName") or ",".join(params.get("RequestItems", {}))
                key = f"{model.name} {tables}"
                self.rru_by_call[key] = self.rru_by_call.get(key, 0.0) + units


class _Counting(io.StringIO):
    """stdout/stderr of an invocation, as Lambda ships them to CloudWatch Logs."""


@contextlib.contextmanager
def captured_logs() -> Iterator[_Counting]:
    sink = _Counting()
    handlers = [
        h
        for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
        for h in getattr(logger, "handlers", [])
        if isinstance(h, logging.StreamHandler)
        and getattr(h, "stream", None) in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    ]
    previous = [h.setStream(sink) for h in handlers]
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            yield sink
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)


def custom_metrics(text: str) -> set[tuple[str, str, tuple[tuple[str, str], ...]]]:
    """The metrics the EMF blobs in `text` create: (namespace, name, dimension values)."""
    found = set()
    for line in text.splitlines():
        if '"_aws"' not in line:
            continue
        blob = json.loads(line)
        for directive in blob["_aws"].get("CloudWatchMetrics", []):
            for dimensions in directive.get("Dimensions", [[]]):
                values = tuple((d, str(blob.get(d))) for d in dimensions)
                for metric in directive.get("Metrics", []):
                    found.add((directive["Namespace"], metric["Name"], values))
    return found
