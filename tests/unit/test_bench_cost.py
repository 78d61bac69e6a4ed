"""The cost model of `make bench` (tests/bench/cost.py): known quantities -> dollars by hand."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import pytest

from tests.bench.cost import (
    PRICES_PATH,
    REQUIRED,
    Breakdown,
    EventPipeline,
    Figures,
    Linear,
    PriceError,
    PushPipeline,
    cost_per_million,
    event_figures,
    format_breakdown,
    load_prices,
    push_figures,
    to_reach,
)

ROUND = {
    "apigw_http_request": (1.0, 1_000_000),
    "sqs_request": (0.4, 1_000_000),
    "lambda_request": (0.2, 1_000_000),
    "lambda_arm64_gb_second": (0.0000133334, 1),
    "dynamodb_wru": (0.625, 1_000_000),
    "dynamodb_rru": (0.125, 1_000_000),
    "logs_ingested_gb": (0.5, 1),
    "custom_metric_month": (0.3, 1),
    "xray_trace": (5.0, 1_000_000),
}


def write_prices(path: Path, drop: str | None = None, **override: dict[str, object]) -> Path:
    prices = {
        key: {
            "usd": usd,
            "per": per,
            "unit": "u",
            "source": "https://aws.amazon.com/pricing/",
            "checked": "2026-12-06",
        }
        for key, (usd, per) in ROUND.items()
        if key != drop
    }
    for key, fields in override.items():
        prices[key] = {**prices[key], **fields}
    path.write_text(json.dumps({"region": "us-east-1", "as_of": "2026-12-06", "prices": prices}))
    return path


def test_the_committed_price_file_has_every_price_with_a_date_and_an_aws_source() -> None:
    prices = load_prices()
    assert PRICES_PATH.name.startswith(prices.region)
    assert set(REQUIRED) <= set(prices.items)
    for price in prices.items.values():
        assert date.fromisoformat(price.checked) <= date.fromisoformat(prices.as_of)
        assert re.match(r"https://aws\.amazon\.com/[\w/.-]+/pricing/", price.source), price
        assert price.usd > 0 and price.per > 0 and price.unit
    # the DynamoDB on-demand prices after the Nov 2024 cut
    assert prices.get("dynamodb_wru").each * 1e6 == pytest.approx(0.625)
    assert prices.get("dynamodb_rru").each * 1e6 == pytest.approx(0.125)


def test_a_missing_price_fails_naming_the_file_and_the_price(tmp_path: Path) -> None:
    path = write_prices(tmp_path / "p.json", drop="xray_trace")
    with pytest.raises(PriceError, match=r"p\.json.*xray_trace"):
        load_prices(path)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [("checked", "", "checked"), ("source", "ftp://x", "source"), ("usd", "1", "usd")],
)
def test_a_price_without_a_date_source_or_number_fails_naming_it(
    tmp_path: Path, field: str, value: str, says: str
) -> None:
    path = write_prices(tmp_path / "p.json", sqs_request={field: value})
    with pytest.raises(PriceError, match=rf"sqs_request.*{says}"):
        load_prices(path)


def test_known_quantities_cost_what_the_hand_computes(tmp_path: Path) -> None:
    prices = load_prices(write_prices(tmp_path / "p.json"))
    figures = Figures(
        api_requests=0.1,  # $1/M -> $0.10 per million items
        sqs_requests=0.5,  # $0.4/M -> $0.20
        lambda_invocations=0.25,  # $0.2/M -> $0.05
        lambda_gb_seconds=0.001,  # 1000 GB-s per million -> $0.0133334
        wru=2,  # $1.25
        rru=4,  # $0.50
        log_bytes=1024**3 / 1e6,  # 1 GB per million -> $0.50
        xray_traces=0.02,  # $0.10
        custom_metrics=10,  # $3 a month over 30M items -> $0.10 per million
        items_per_month=30e6,
    )
    breakdown = cost_per_million(figures, prices)
    lines = dict(breakdown.lines)
    assert lines["API Gateway"] == pytest.approx(0.10)
    assert lines["SQS"] == pytest.approx(0.20)
    assert lines["Lambda requests"] == pytest.approx(0.05)
    assert lines["Lambda duration"] == pytest.approx(0.0133334)
    assert lines["DynamoDB writes"] == pytest.approx(1.25)
    assert lines["DynamoDB reads"] == pytest.approx(0.50)
    assert lines["CloudWatch Logs"] == pytest.approx(0.50)
    assert lines["CloudWatch metrics"] == pytest.approx(0.10)
    assert lines["X-Ray"] == pytest.approx(0.10)
    assert breakdown.total == pytest.approx(2.8133334)
    assert breakdown.dominant == ("DynamoDB writes", pytest.approx(1.25))


def test_event_figures_spread_requests_messages_and_batches_over_their_events() -> None:
    pipeline = EventPipeline(
        api_memory_mb=512,
        api_ms=Linear(10, 1),  # 20 ms for a request of 10 events
        api_log_bytes=Linear(500, 0),
        api_wru=Linear(1, 0),  # the rate-limit counter
        api_rru=Linear(0, 0),
        processor_memory_mb=1024,
        batch_size=50,
        processor_ms=Linear(100, 10),  # 200 ms for 50 messages of 10 events
        processor_log_bytes=Linear(1000, 0),
        processor_wru=Linear(50, 25),  # 300 WRU per batch of 500 events
        processor_rru=Linear(20, 0),
        traced_fraction=0.05,
        custom_metrics=0,
    )
    figures = event_figures(pipeline, events_per_request=10)
    assert figures.api_requests == pytest.approx(0.1)
    # one send per request, a receive and a delete per 10 messages
    assert figures.sqs_requests == pytest.approx((1 + 0.2) / 10)
    assert figures.lambda_invocations == pytest.approx(0.1 + 1 / 500)
    api_gbs = 0.020 * 0.5 / 10
    processor_gbs = 0.200 * 1.0 / 500
    assert figures.lambda_gb_seconds == pytest.approx(api_gbs + processor_gbs)
    assert figures.wru == pytest.approx(1 / 10 + 300 / 500)
    assert figures.rru == pytest.approx(20 / 500)
    assert figures.log_bytes == pytest.approx(500 / 10 + 1000 / 500)
    assert figures.xray_traces == pytest.approx(0.05 * (0.1 + 1 / 500))
    # the bench's own write units per event (all in: the processor and the rate limit)
    assert event_figures(pipeline, 10, wru_per_event=0.4).wru == pytest.approx(0.4)  # all in


def test_push_figures_bill_the_fcm_wait_and_spread_the_batch() -> None:
    pipeline = PushPipeline(
        memory_mb=512,
        batch_size=50,
        sender_ms=Linear(30, 60),  # per invocation, per push (the FCM wait included)
        log_bytes=Linear(400, 100),
        wru=Linear(0, 2),
        rru=Linear(0, 1.5),
        enqueue_requests=1,
        producer_ms=8,
        producer_memory_mb=512,
        traced_fraction=0.05,
        custom_metrics=0,
    )
    figures = push_figures(pipeline)
    assert figures.sqs_requests == pytest.approx(1 + 0.2)
    assert figures.lambda_invocations == pytest.approx(1 / 50)
    assert figures.lambda_gb_seconds == pytest.approx((30 + 60 * 50) / 50 / 1000 * 0.5 + 0.004)
    assert figures.wru == pytest.approx(2) and figures.rru == pytest.approx(1.5)
    assert figures.log_bytes == pytest.approx(400 / 50 + 100)
    assert push_figures(pipeline, wru_per_push=1.0).wru == pytest.approx(1.0)


def test_the_printer_puts_pinpoint_beside_the_total_and_names_what_dominates(
    tmp_path: Path,
) -> None:
    breakdown = Breakdown((("API Gateway", 0.25), ("DynamoDB writes", 0.35), ("SQS", 0.05)))
    lines = format_breakdown("events", breakdown)
    assert lines[0] == "cost per million events: $0.65 (Pinpoint $1.00)"
    assert any("DynamoDB writes" in line and "$0.350" in line for line in lines[1:])
    advice = to_reach(0.30, breakdown)
    assert advice == "$0.35 to cut; the largest lines hold it: DynamoDB writes $0.350"
    assert to_reach(0.10, breakdown).endswith("DynamoDB writes $0.350, API Gateway $0.250")
    assert "already" in to_reach(1.0, breakdown)


def test_linear_fits_two_measurements() -> None:
    line = Linear.through((1, 12.0), (5, 20.0))
    assert line.fixed == pytest.approx(10.0) and line.per_event == pytest.approx(2.0)
    assert line.at(10) == pytest.approx(30.0)
    assert Linear.through((4, 7.0), (4, 9.0)).at(4) == pytest.approx(8.0)  # one size: the mean


def test_read_units_follow_dynamodb_rounding_and_consistency() -> None:
    from tests.bench.cost_meters import read_units

    small = {"pk": {"S": "u1"}, "n": {"N": "1"}}
    big = {"pk": {"S": "u2"}, "blob": {"S": "x" * 5000}}  # 2 x 4 KB
    assert read_units("GetItem", {"ConsistentRead": True}, {"Item": big}) == 2
    assert read_units("GetItem", {}, {"Item": small}) == 0.5
    assert read_units("GetItem", {}, {}) == 0.5  # nothing found still costs a read
    batch = {"RequestItems": {"T": {"Keys": [{}, {}, {}], "ConsistentRead": True}}}
    assert read_units("BatchGetItem", batch, {"Responses": {"T": [small, big]}}) == 1 + 2 + 1
    # a Query is charged on the items' summed size, eventually consistent on an index
    query = {"ConsistentRead": True, "IndexName": "i"}
    assert read_units("Query", query, {"Items": [big, big]}) == 1.5
    assert read_units("PutItem", {}, {}) == 0


def test_the_access_log_line_is_rendered_from_the_template_format() -> None:
    from nudge_local.template import load_template
    from tests.bench.cost_meters import access_log_bytes

    size = access_log_bytes(load_template(), "POST /v1/events", 202)
    assert 150 < size < 1000
