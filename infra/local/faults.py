"""Faults injected on purpose into the functions' AWS calls, answered as AWS answers them.

A fault plan (JSON, in NUDGE_LOCAL_FAULTS in every function process of the local stack) is a
list of rules; a call that matches a rule fails with that rule's probability (seeded, so a run
can be repeated). The failure is AWS's own HTTP error response for the service's protocol,
returned from botocore's `before-send` hook (registered by `aws_guard`) in place of sending
the request: botocore parses it, retries it under the client's retry mode (the functions use
standard mode, 4 attempts) and raises the modelled exception once its attempts are used up,
exactly as against AWS. The request never reaches moto, so a failed write changed nothing.

    {"seed": 7,
     "rules": [
       {"service": "dynamodb", "error": "ProvisionedThroughputExceededException", "rate": 0.2},
       {"service": "dynamodb", "operations": ["TransactWriteItems"], "tables": ["ProfilesTable"],
        "error": "ThrottlingException", "rate": 0.5},
       {"service": "sqs", "operations": ["SendMessage", "SendMessageBatch"],
        "queues": ["PushesQueue"], "error": "InternalFailure", "rate": 0.1},
       {"service": "sqs", "operations": ["SendMessageBatch"], "error": "BatchEntryFailed",
        "rate": 0.1}],
     "counts_dir": "/path/to/state/faults"}

A rule without `operations`, `tables`, `queues` or `functions` matches every one; `error` may
be a list (one is drawn per failed call). Every rule that matches a call rolls its rate, in
order, until one fails it (so a call is failed by at most one rule). Only calls made by a
function (`aws_guard.current_principal()`) are failed: the stack's own calls (its SQS
pollers, which are Lambda's service, and set-up) never are.
With `counts_dir`, each process keeps `<counts_dir>/<function>-<pid>.json` up to date with
the calls each rule saw and failed (`read_counts` adds them up).

Errors (`ERRORS`): DynamoDB ProvisionedThroughputExceededException, ThrottlingException,
RequestLimitExceeded (400, throttling), InternalServerError (500); SQS RequestThrottled (400),
InternalFailure (500), ServiceUnavailable (503) and BatchEntryFailed (SendMessageBatch only:
HTTP 200 with every entry in `Failed`, which botocore does not retry: the caller must).
"""

from __future__ import annotations

import binascii
import contextlib
import json
import os
import random
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV = "NUDGE_LOCAL_FAULTS"


@dataclass(frozen=True)
class ErrorSpec:
    status: int
    type_prefix: str  # the "__type" namespace AWS uses for it
    message: str
    query_error: str | None = None  # SQS (awsQueryCompatible): x-amzn-query-error


_DDB = "com.amazonaws.dynamodb.v20120810"
ERRORS: dict[str, dict[str, ErrorSpec]] = {
    "dynamodb": {
        "ProvisionedThroughputExceededException": ErrorSpec(
            400,
            _DDB,
            "The level of configured provisioned throughput for the table was exceeded. "
            "Consider increasing your provisioning level with the UpdateTable API.",
        ),
        "ThrottlingException": ErrorSpec(
            400, _DDB, "Throughput exceeds the current capacity of your table or index."
        ),
        "RequestLimitExceeded": ErrorSpec(
            400, _DDB, "Throughput exceeds the current throughput limit for your account."
        ),
        "InternalServerError": ErrorSpec(500, _DDB, "Internal server error"),
    },
    "sqs": {
        "RequestThrottled": ErrorSpec(
            400, "com.amazonaws.sqs", "Request is throttled.", "RequestThrottled;Sender"
        ),
        "InternalFailure": ErrorSpec(
            500,
            "com.amazon.coral.service",
            "The request processing has failed because of an unknown error.",
            "InternalFailure;Receiver",
        ),
        "ServiceUnavailable": ErrorSpec(
            503,
            "com.amazon.coral.service",
            "Service is unable to handle request.",
            "ServiceUnavailable;Receiver",
        ),
        "BatchEntryFailed": ErrorSpec(200, "", "Internal error: please try again"),
    },
}
_TARGET_PREFIX = {"dynamodb": "DynamoDB_20120810.", "sqs": "AmazonSQS."}


@dataclass
class Rule:
    service: str
    errors: tuple[str, ...]
    rate: float
    operations: frozenset[str] | None = None
    tables: frozenset[str] | None = None
    queues: frozenset[str] | None = None
    functions: frozenset[str] | None = None

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Rule:
        unknown = set(raw) - {"service", "error", "rate", "operations", "tables", "queues",
                              "functions"}  # fmt: skip
        if unknown:
            raise ValueError(f"fault rule: unknown keys {sorted(unknown)}")
        service = str(raw.get("service", "")).lower()
        if service not in ERRORS:
            raise ValueError(f"fault rule: service must be one of {sorted(ERRORS)}")
        given = raw.get("error", "")
        errors = tuple(str(e) for e in (given if isinstance(given, list) else [given]))
        if not errors or any(e not in ERRORS[service] for e in errors):
            raise ValueError(f"fault rule: {service} errors are {sorted(ERRORS[service])}")
        rate = float(raw.get("rate", 1.0))
        if not 0.0 <= rate <= 1.0:
            raise ValueError("fault rule: rate must be between 0 and 1")

        def names(key: str) -> frozenset[str] | None:
            value = raw.get(key)
            if value is None or value == "*" or value == ["*"]:
                return None
            if isinstance(value, str):
                value = [value]
            return frozenset(str(v) for v in value)

        if "BatchEntryFailed" in errors and names("operations") != {"SendMessageBatch"}:
            raise ValueError(
                'fault rule: BatchEntryFailed needs "operations": ["SendMessageBatch"]'
            )
        return cls(
            service, errors, rate, names("operations"), names("tables"), names("queues"),
            names("functions"),
        )  # fmt: skip

    def matches(self, service: str, operation: str, principal: str, body: dict[str, Any]) -> bool:
        if service != self.service:
            return False
        if self.operations is not None and operation not in self.operations:
            return False
        if self.functions is not None and principal not in self.functions:
            return False
        if self.tables is not None and not (self.tables & tables_of(body)):
            return False
        if self.queues is not None:
            url = str(body.get("QueueUrl", ""))
            if url.rstrip("/").rsplit("/", 1)[-1] not in self.queues:
                return False
        return True


@dataclass
class Plan:
    rules: list[Rule]
    seed: int = 0
    counts_dir: Path | None = None
    rng: random.Random = field(default_factory=random.Random)
    seen: list[int] = field(default_factory=list)
    injected: list[int] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: dict[str, Any] | str) -> Plan:
        data = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(data, dict):
            raise ValueError("a fault plan is a JSON object with 'rules'")
        rules = [Rule.parse(r) for r in data.get("rules", [])]
        counts_dir = data.get("counts_dir")
        plan = cls(rules, int(data.get("seed", 0)), Path(counts_dir) if counts_dir else None)
        plan.seen = [0] * len(rules)
        plan.injected = [0] * len(rules)
        return plan

    def reseed(self, principal: str) -> None:
        self.rng = random.Random(f"{self.seed}:{principal}")


def tables_of(body: dict[str, Any]) -> set[str]:
    """The table names a DynamoDB request touches (item, batch and transaction operations)."""
    found: set[str] = set()
    if "TableName" in body:
        found.add(str(body["TableName"]))
    found.update(str(name) for name in body.get("RequestItems", {}) or {})
    for item in body.get("TransactItems", []) or []:
        for action in item.values():
            if isinstance(action, dict) and "TableName" in action:
                found.add(str(action["TableName"]))
    return found


def load_plan(text: str | None = None) -> Plan | None:
    """The plan from NUDGE_LOCAL_FAULTS (or `text`); None when no faults are asked for."""
    raw = os.environ.get(ENV) if text is None else text
    if not raw:
        return None
    return Plan.parse(raw)


_state: dict[str, Any] = {"plan": None, "loaded": False}
_lock = threading.Lock()


def _plan(principal: str) -> Plan | None:
    if not _state["loaded"]:
        with _lock:
            if not _state["loaded"]:
                loaded = load_plan()
                if loaded is not None:
                    loaded.reseed(principal)
                _state["plan"] = loaded
                _state["loaded"] = True
    plan: Plan | None = _state["plan"]
    return plan


def reset(plan: Plan | None = None, principal: str = "") -> None:
    """Use `plan` from now on (tests); None reads NUDGE_LOCAL_FAULTS again on the next call."""
    with _lock:
        if plan is not None:
            plan.reseed(principal)
        _state["plan"] = plan
        _state["loaded"] = plan is not None


@contextlib.contextmanager
def injected(plan: dict[str, Any]) -> Iterator[Plan]:
    """Tests: these faults for the calls functions make inside the block, none after."""
    parsed = Plan.parse(plan)
    reset(parsed)
    try:
        yield parsed
    finally:
        reset(None)


def _operation(request: Any, event_name: str) -> tuple[str, str]:
    """(service, operation) from the event name `before-send.<service id>.<Operation>`."""
    parts = event_name.split(".")
    if len(parts) >= 3:
        return parts[1], parts[2]
    target = str(request.headers.get("X-Amz-Target", ""))
    for service, prefix in _TARGET_PREFIX.items():
        if target.startswith(prefix):
            return service, target[len(prefix) :]
    return "", ""


def _body(request: Any) -> dict[str, Any]:
    raw = request.body
    if hasattr(raw, "read"):  # a stream (never for DynamoDB or SQS's JSON): leave it alone
        return {}
    try:
        parsed = json.loads(raw or b"{}")
    except (ValueError, TypeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def error_response(
    service: str, error: str, url: str, request_body: dict[str, Any] | None = None
) -> Any:
    """AWS's HTTP answer for `error` (an `AWSResponse`, what botocore would have received)."""
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    spec = ERRORS[service][error]
    request_id = uuid.uuid4().hex.upper()
    headers = {
        "x-amzn-RequestId": request_id,
        "Content-Type": "application/x-amz-json-1.0",
    }
    if error == "BatchEntryFailed":
        entries = (request_body or {}).get("Entries", [])
        payload: dict[str, Any] = {
            "Successful": [],
            "Failed": [
                {"Id": e.get("Id"), "SenderFault": False, "Code": "InternalError",
                 "Message": spec.message}
                for e in entries
            ],
        }  # fmt: skip
    else:
        payload = {"__type": f"{spec.type_prefix}#{error}", "message": spec.message}
    body = json.dumps(payload, separators=(",", ":")).encode()
    if service == "dynamodb":
        headers["x-amz-crc32"] = str(binascii.crc32(body) & 0xFFFFFFFF)
    if spec.query_error:
        headers["x-amzn-query-error"] = spec.query_error
    headers["Content-Length"] = str(len(body))
    http_headers = HTTPHeaders()
    for name, value in headers.items():
        http_headers[name] = value
    return AWSResponse(url, spec.status, http_headers, _RawBody(body))


class _RawBody:
    """Just enough of urllib3's response for botocore (as moto's botocore stubber does)."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        if self._data:
            yield self._data
        self._data = b""

    def read(self, *_: Any) -> bytes:
        data, self._data = self._data, b""
        return data


def _principal() -> str | None:
    from nudge_local import aws_guard

    return aws_guard.current_principal()


def maybe_fail(request: Any = None, event_name: str = "", **_: Any) -> Any:
    """botocore `before-send` hook: an AWSResponse to answer instead of AWS, or None."""
    if request is None:
        return None
    principal = _principal()
    if principal is None:  # the operator or the stack itself: never failed on purpose
        return None
    plan = _plan(principal)
    if plan is None or not plan.rules:
        return None
    service, operation = _operation(request, event_name)
    if service not in ERRORS:
        return None
    body = _body(request)
    for index, rule in enumerate(plan.rules):
        if not rule.matches(service, operation, principal, body):
            continue
        with _lock:
            plan.seen[index] += 1
            fail = plan.rng.random() < rule.rate
            if fail:
                plan.injected[index] += 1
                error = rule.errors[0] if len(rule.errors) == 1 else plan.rng.choice(rule.errors)
        if fail or plan.seen[index] % 100 == 0:
            _write_counts(plan, principal)
        if fail:
            request.nudge_fault = True  # moto's in-process mock skips it (aws_guard)
            return error_response(service, error, request.url, body)
    return None


def _write_counts(plan: Plan, principal: str) -> None:
    if plan.counts_dir is None:
        return
    counts = {
        "function": principal,
        "rules": [
            {"rule": i, "service": r.service, "error": "|".join(r.errors), "seen": plan.seen[i],
             "injected": plan.injected[i]}
            for i, r in enumerate(plan.rules)
        ],
    }  # fmt: skip
    path = plan.counts_dir / f"{principal}-{os.getpid()}.json"
    try:
        plan.counts_dir.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{threading.get_ident()}.tmp")
        temporary.write_text(json.dumps(counts))
        temporary.replace(path)
    except OSError:
        pass  # counting is a courtesy: never fail a call because of it


def read_counts(counts_dir: Path) -> dict[str, Any]:
    """Calls seen and failed, per rule and per function, added up over every process."""
    per_rule: dict[int, dict[str, Any]] = {}
    per_function: dict[str, int] = {}
    for path in sorted(counts_dir.glob("*.json")) if counts_dir.is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        for rule in data.get("rules", []):
            total = per_rule.setdefault(
                rule["rule"],
                {"service": rule["service"], "error": rule["error"], "seen": 0, "injected": 0},
            )
            total["seen"] += rule["seen"]
            total["injected"] += rule["injected"]
            per_function[data["function"]] = (
                per_function.get(data["function"], 0) + rule["injected"]
            )
    return {"rules": [per_rule[i] for i in sorted(per_rule)], "functions": per_function}
