"""What a million events and a million pushes cost in AWS, all in, from measured quantities.

Pure: prices come from one dated file (`prices/us-east-1-*.json`, each with its source), the
quantities per item from the bench (`cost_measure.py` measures them over moto with the real
handlers; `run.py` passes its own write units). Nothing here times or calls anything.

Per item (one event, one push) the bill counts: HTTP API requests, SQS requests (a batch of
up to 10 messages is one request per 64 KB), Lambda invocations and GB-seconds (wall time,
rounded up to 1 ms per invocation, times the function's memory), DynamoDB write and read
units, log bytes ingested and X-Ray traces recorded. Custom metrics are billed per metric
and month, not per item: they are spread over an assumed monthly volume, printed with them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

PRICES_PATH = Path(__file__).parent / "prices" / "us-east-1-2026-12.json"
PINPOINT_PER_MILLION = 1.00  # Pinpoint: $1 per million events and per million pushes
GB = 1024**3

REQUIRED = {
    "apigw_http_request": "HTTP API requests",
    "sqs_request": "SQS requests",
    "lambda_request": "Lambda invocations",
    "lambda_arm64_gb_second": "Lambda duration (arm64)",
    "dynamodb_wru": "DynamoDB on-demand writes",
    "dynamodb_rru": "DynamoDB on-demand reads",
    "logs_ingested_gb": "CloudWatch Logs ingestion",
    "custom_metric_month": "CloudWatch custom metrics (EMF)",
    "xray_trace": "X-Ray traces recorded",
}


class PriceError(ValueError):
    """The price file is missing a price or a price lacks its number, date or source."""


@dataclass(frozen=True)
class Price:
    key: str
    usd: float
    per: float
    unit: str
    source: str
    checked: str

    @property
    def each(self) -> float:
        return self.usd / self.per


@dataclass(frozen=True)
class Prices:
    path: Path
    region: str
    as_of: str
    items: Mapping[str, Price]

    def get(self, key: str) -> Price:
        if key not in self.items:
            raise PriceError(f"{self.path}: no price {key!r} ({REQUIRED.get(key, 'unknown')})")
        return self.items[key]


def _price(path: Path, key: str, raw: Any) -> Price:
    def fail(field: str, why: str) -> PriceError:
        return PriceError(f"{path}: price {key!r}: {field} {why}")

    if not isinstance(raw, dict):
        raise fail("entry", "must be an object")
    for field in ("usd", "per"):
        value = raw.get(field)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise fail(field, f"must be a positive number, not {value!r}")
    source = raw.get("source")
    if not isinstance(source, str) or not source.startswith("https://"):
        raise fail("source", f"must be the https:// page the price comes from, not {source!r}")
    try:
        date.fromisoformat(str(raw.get("checked")))
    except ValueError:
        raise fail(
            "checked", f"must be the date it was checked, not {raw.get('checked')!r}"
        ) from None
    if not isinstance(raw.get("unit"), str) or not raw["unit"]:
        raise fail("unit", "must say what is priced")
    return Price(key, float(raw["usd"]), float(raw["per"]), raw["unit"], source, raw["checked"])


def load_prices(path: Path = PRICES_PATH) -> Prices:
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise PriceError(f"{path}: {error}") from error
    raw = document.get("prices") if isinstance(document, dict) else None
    if not isinstance(raw, dict):
        raise PriceError(f"{path}: no 'prices' object")
    missing = sorted(set(REQUIRED) - set(raw))
    if missing:
        raise PriceError(f"{path}: missing price(s) {', '.join(missing)}")
    items = {key: _price(path, key, value) for key, value in raw.items()}
    return Prices(path, str(document.get("region")), str(document.get("as_of")), items)


@dataclass(frozen=True)
class Figures:
    """Quantities per item (one event or one push)."""

    api_requests: float = 0.0
    sqs_requests: float = 0.0
    lambda_invocations: float = 0.0
    lambda_gb_seconds: float = 0.0
    wru: float = 0.0
    rru: float = 0.0
    log_bytes: float = 0.0
    xray_traces: float = 0.0
    custom_metrics: int = 0  # billed per month, whatever the volume
    items_per_month: float = 0.0  # what the metrics are spread over (0: left out)


@dataclass(frozen=True)
class Breakdown:
    lines: tuple[tuple[str, float], ...]  # (service, USD per million items)

    @property
    def total(self) -> float:
        return sum(usd for _, usd in self.lines)

    @property
    def dominant(self) -> tuple[str, float]:
        return max(self.lines, key=lambda line: line[1])


def cost_per_million(figures: Figures, prices: Prices) -> Breakdown:
    million = 1e6
    metrics = 0.0
    if figures.items_per_month > 0:
        monthly = figures.custom_metrics * prices.get("custom_metric_month").each
        metrics = monthly / figures.items_per_month * million
    return Breakdown(
        (
            ("API Gateway", figures.api_requests * prices.get("apigw_http_request").each * million),
            ("SQS", figures.sqs_requests * prices.get("sqs_request").each * million),
            (
                "Lambda requests",
                figures.lambda_invocations * prices.get("lambda_request").each * million,
            ),
            (
                "Lambda duration",
                figures.lambda_gb_seconds * prices.get("lambda_arm64_gb_second").each * million,
            ),
            ("DynamoDB writes", figures.wru * prices.get("dynamodb_wru").each * million),
            ("DynamoDB reads", figures.rru * prices.get("dynamodb_rru").each * million),
            (
                "CloudWatch Logs",
                figures.log_bytes / GB * prices.get("logs_ingested_gb").each * million,
            ),
            ("CloudWatch metrics", metrics),
            ("X-Ray", figures.xray_traces * prices.get("xray_trace").each * million),
        )
    )


@dataclass(frozen=True)
class Linear:
    """A measured quantity per invocation: fixed + per_event x events (or pushes)."""

    fixed: float
    per_event: float

    def at(self, events: float) -> float:
        return self.fixed + self.per_event * events

    @classmethod
    def through(cls, first: tuple[float, float], second: tuple[float, float]) -> Linear:
        (x1, y1), (x2, y2) = first, second
        if x1 == x2:
            return cls((y1 + y2) / 2, 0.0)
        slope = (y2 - y1) / (x2 - x1)
        return cls(y1 - slope * x1, slope)


def _gb_seconds(billed_ms: float, memory_mb: int) -> float:
    return math.ceil(billed_ms) / 1000 * memory_mb / 1024


def _sqs_consumer_requests(messages_per_batch: float) -> float:
    """Per message: Lambda's poller receives and deletes up to 10 messages a request."""
    return 2 / min(10.0, max(1.0, messages_per_batch))


@dataclass(frozen=True)
class EventPipeline:
    """Measured: events_api per request and event_processor per batch, by events per message."""

    api_memory_mb: int
    api_ms: Linear  # billed wall ms per request
    api_log_bytes: Linear  # the function's log lines + the HTTP API's access log line
    api_wru: Linear  # the per-user request counter
    api_rru: Linear
    processor_memory_mb: int
    batch_size: int  # messages per processor invocation (the event source's BatchSize)
    processor_ms: Linear  # billed wall ms per batch
    processor_log_bytes: Linear
    processor_wru: Linear
    processor_rru: Linear
    traced_fraction: float  # of invocations whose trace X-Ray records
    custom_metrics: int
    sqs_chunks_per_message: int = 1  # 64 KB chunks


def event_figures(
    pipeline: EventPipeline,
    events_per_request: float,
    wru_per_event: float | None = None,
    events_per_month: float = 0.0,
) -> Figures:
    """Per event, for requests of `events_per_request` events (one SQS message each) and full
    batches. `wru_per_event`, all of an event's write units as the bench counts them over its
    workload (the processor's and events_api's rate limit), overrides the measured."""
    k = events_per_request
    per_batch = pipeline.batch_size * k  # events per processor invocation
    measured_wru = pipeline.api_wru.at(k) / k + pipeline.processor_wru.at(k) / per_batch
    invocations = 1 / k + 1 / per_batch
    return Figures(
        api_requests=1 / k,
        sqs_requests=(pipeline.sqs_chunks_per_message + _sqs_consumer_requests(pipeline.batch_size))
        / k,
        lambda_invocations=invocations,
        lambda_gb_seconds=_gb_seconds(pipeline.api_ms.at(k), pipeline.api_memory_mb) / k
        + _gb_seconds(pipeline.processor_ms.at(k), pipeline.processor_memory_mb) / per_batch,
        wru=measured_wru if wru_per_event is None else wru_per_event,
        rru=pipeline.api_rru.at(k) / k + pipeline.processor_rru.at(k) / per_batch,
        log_bytes=pipeline.api_log_bytes.at(k) / k + pipeline.processor_log_bytes.at(k) / per_batch,
        xray_traces=pipeline.traced_fraction * invocations,
        custom_metrics=pipeline.custom_metrics,
        items_per_month=events_per_month,
    )


@dataclass(frozen=True)
class PushPipeline:
    """Measured: push_sender per invocation and per push; the producer's enqueue."""

    memory_mb: int
    batch_size: int
    sender_ms: Linear  # billed wall ms per invocation by pushes in it (FCM's wait included)
    log_bytes: Linear
    wru: Linear
    rru: Linear
    enqueue_requests: float  # SQS requests per push on the producer's side
    producer_ms: float  # the producer's wall ms per push (its SendMessage)
    producer_memory_mb: int
    traced_fraction: float
    custom_metrics: int


def push_figures(
    pipeline: PushPipeline,
    pushes_per_batch: float | None = None,
    wru_per_push: float | None = None,
    pushes_per_month: float = 0.0,
) -> Figures:
    n = pushes_per_batch or pipeline.batch_size
    wru = pipeline.wru.at(n) / n if wru_per_push is None else wru_per_push
    return Figures(
        sqs_requests=pipeline.enqueue_requests + _sqs_consumer_requests(n),
        lambda_invocations=1 / n,
        lambda_gb_seconds=_gb_seconds(pipeline.sender_ms.at(n), pipeline.memory_mb) / n
        + pipeline.producer_ms / 1000 * pipeline.producer_memory_mb / 1024,
        wru=wru,
        rru=pipeline.rru.at(n) / n,
        log_bytes=pipeline.log_bytes.at(n) / n,
        xray_traces=pipeline.traced_fraction / n,
        custom_metrics=pipeline.custom_metrics,
        items_per_month=pushes_per_month,
    )


def format_breakdown(items: str, breakdown: Breakdown) -> list[str]:
    """`cost per million events: $A (Pinpoint $1.00)`, then one line per service."""
    lines = [
        f"cost per million {items}: ${breakdown.total:.2f} (Pinpoint ${PINPOINT_PER_MILLION:.2f})"
    ]
    total = breakdown.total or 1.0
    for service, usd in sorted(breakdown.lines, key=lambda line: -line[1]):
        lines.append(f"  {service:<20}{f'${usd:.3f}':>8}  {usd / total:>4.0%}")
    return lines


def to_reach(target: float, breakdown: Breakdown) -> str:
    """How much must go to reach `target` dollars per million, and the largest lines that
    together hold that much (the ones to work on, in order)."""
    gap = breakdown.total - target
    if gap <= 0:
        return f"already at or under ${target:.2f}"
    largest, held = [], 0.0
    for service, usd in sorted(breakdown.lines, key=lambda line: -line[1]):
        largest.append(f"{service} ${usd:.3f}")
        held += usd
        if held >= gap - 1e-9:  # float sums: a line that exactly fills the gap does
            break
    return f"${gap:.2f} to cut; the largest lines hold it: {', '.join(largest)}"
