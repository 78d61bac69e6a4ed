"""`make bench`: dollars per million events and per million pushes, all in, beside Pinpoint's.

run.py calls `print_cost_figures` last, passing its own write units (event_writes.py
counts them over the realistic workload) and the workload's events per request; whatever it
does not pass is taken from this module's own measurement (cost_measure.py).

    python -m tests.bench.cost_bench
"""

from __future__ import annotations

import statistics

from tests.bench.cost import (
    Breakdown,
    cost_per_million,
    event_figures,
    format_breakdown,
    load_prices,
    push_figures,
    to_reach,
)
from tests.bench.cost_measure import (
    FCM_ROUND_TRIP_MS,
    XRAY_SAMPLED,
    measure_events,
    measure_pushes,
)
from tests.bench.scheduler import CALL_LATENCY_MS, FULL_VCPU_MB

TARGET = 0.30  # dollars per million: what the issue asks us to say how to reach
EVENTS_PER_MONTH = 30e6  # assumed volume the fixed monthly metrics are spread over
PUSHES_PER_MONTH = 3e6

LEVERS = {  # what would move each line, by what is priced
    "events": {
        "API Gateway": "more events per request (the SDK's flush size): the price is per request",
        "SQS": "more events per message: send, receive and delete are per message",
        "Lambda requests": "more events per request and fuller batches",
        "Lambda duration": "fewer sequential AWS calls per batch (each is billed wall time)",
        "DynamoDB writes": (
            "the profile, history and rate-limit writes are one each per request: more events "
            "per request (the SDK's flush), or a rate limit kept without a write per request"
        ),
        "DynamoDB reads": "fewer strongly consistent reads per user and batch",
        "CloudWatch Logs": "fewer bytes logged per invocation",
        "X-Ray": "a sampling rule below 5 % for events_api, or Tracing off there",
    },
    "pushes": {
        "DynamoDB writes": (
            "already one write per job (the claim is the record): below that, one record for "
            "several jobs, which gives up a per-message outcome"
        ),
        "Lambda duration": (
            "one overlapped FCM send for a batch's jobs instead of a wait per job, and fewer "
            "sequential DynamoDB calls per push"
        ),
        "SQS": "producers sending in batches of 10 (a campaign send is one SendMessage a push)",
        "CloudWatch metrics": "fewer metrics or dimension values (or more pushes a month)",
        "DynamoDB reads": "eventually consistent device and preference reads",
        "CloudWatch Logs": "fewer bytes logged per invocation",
        "X-Ray": "a lower sampling rate for push_sender",
        "Lambda requests": "fuller batches",
    },
}


def realistic_events_per_request() -> float:
    """The mean events per request of the realistic workload (event_writes.py; its original
    requests only)."""
    import json

    from tests.bench.event_writes import workload

    sizes = {mid: len(json.loads(body)["events"]) for mid, body in workload(60, 30)}
    return statistics.mean(sizes.values())


def _advice(items: str, breakdown: Breakdown) -> list[str]:
    service, _ = breakdown.dominant
    return [
        f"  to reach ${TARGET:.2f}: {to_reach(TARGET, breakdown)}",
        f"  largest, {service}: {LEVERS[items].get(service, '-')}",
    ]


def cost_lines(
    wru_per_event: float | None = None,
    events_per_request: float | None = None,
    worst_wru_per_event: float | None = None,
    wru_per_push: float | None = None,
) -> list[str]:
    """The section's lines. `wru_per_event`: the processor's write units per event over the
    realistic mix (`worst_wru_per_event`: at one event per request); None = measured here."""
    prices = load_prices()
    events, event_detail = measure_events()
    pushes, push_detail = measure_pushes()
    k = events_per_request or realistic_events_per_request()
    share = FULL_VCPU_MB / events.api_memory_mb
    per_push = pushes.batch_size
    lines = [
        f"prices: {prices.path.name} (list prices, free tiers ignored, checked {prices.as_of})",
        f"assumed: each AWS call {CALL_LATENCY_MS:.0f} ms of billed wall time, each FCM send "
        f"{FCM_ROUND_TRIP_MS:.0f} ms; CPU measured here x{share:.2f} (512 MB's share of a "
        f"vCPU); X-Ray records {XRAY_SAMPLED:.0%} of invocations (Tracing: Active, default "
        f"rule); metrics spread over {EVENTS_PER_MONTH / 1e6:.0f}M events and "
        f"{PUSHES_PER_MONTH / 1e6:.0f}M pushes a month",
        f"measured events_api per request: {event_detail['api calls per request']} calls; "
        f"{events.api_ms.at(k):.1f} ms billed at {k:.1f} events, "
        f"{events.api_wru.at(k):.1f} WRU (the per-user rate-limit counter)",
        f"measured event_processor per message: {event_detail['processor calls per message']} "
        f"calls; read units {event_detail['processor read units per message']}; "
        f"{events.processor_ms.at(k) / events.batch_size:.1f} ms billed per message of "
        f"{k:.1f} events (batches of {events.batch_size})",
        f"measured push_sender per push: {push_detail['push_sender calls per push']} calls; "
        f"read units {push_detail['push_sender read units per push']}; "
        f"{pushes.sender_ms.at(per_push) / per_push:.1f} ms billed (FCM's wait included); "
        f"logs {pushes.log_bytes.at(per_push) / per_push:.0f} B",
        f"custom metrics seen: {events.custom_metrics} from the event functions, "
        f"{pushes.custom_metrics} from push_sender",
    ]
    cases = (
        (f"events ({k:.1f} events per request)", k, wru_per_event),
        ("events, worst case (1 event per request)", 1.0, worst_wru_per_event),
    )
    for label, size, wru in cases:
        breakdown = cost_per_million(event_figures(events, size, wru, EVENTS_PER_MONTH), prices)
        lines += format_breakdown(label, breakdown) + _advice("events", breakdown)
    push_cases = (
        (f"pushes (batches of {pushes.batch_size})", pushes.batch_size),
        ("pushes, worst case (1 push per invocation)", 1),
    )
    for label, batch in push_cases:
        figures = push_figures(pushes, batch, wru_per_push, PUSHES_PER_MONTH)
        breakdown = cost_per_million(figures, prices)
        lines += format_breakdown(label, breakdown) + _advice("pushes", breakdown)
    return lines


def print_cost_figures(
    wru_per_event: float | None = None,
    events_per_request: float | None = None,
    worst_wru_per_event: float | None = None,
    wru_per_push: float | None = None,
) -> None:
    print("Cost per million events and pushes, all in (us-east-1)")
    for line in cost_lines(wru_per_event, events_per_request, worst_wru_per_event, wru_per_push):
        print(f"   {line}")
    print()


if __name__ == "__main__":
    print_cost_figures()
