"""`make fuzz`: schemathesis drives both APIs of a fresh local stack from their OpenAPI documents.

Every operation of the mobile document (a user's bearer JWT) and of the admin document (SigV4
by the local admin credential) gets its share of the cases, valid (positive) and invalid
(negative) inputs, and every answer is checked against the document: no 5xx, a documented
status, content type and body, and every 4xx a JSON object with a `message`. The app
developers generate their clients from these documents, so an undocumented answer is a bug of
the document (or of the route). The last line says it all:

    api fuzz: 10012 cases, 0 server errors, 0 undocumented responses

`python -m nudge_local.fuzz --cases 500 --seed 7` replays a run; exit 1 on any finding.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from nudge.api.openapi import ADMIN_OPENAPI_PATH, MOBILE_OPENAPI_PATH
from nudge_local import process
from nudge_local.auth import AdminCredential, sign_request
from nudge_local.client import LocalClient

DEFAULT_CASES = 10_000
REQUEST_TIMEOUT_S = 30.0  # a request still unanswered then is a hang: a server error
# a user for every CASES_PER_USER mobile cases: state builds up a little, and no user comes
# near the per-user rate limits (60 writes a minute), which would turn the rest into 429s
CASES_PER_USER = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES_KEPT = 2  # per (operation, status, problem) in the report
PROGRESS_EVERY = 1000
STACK_LOG = Path("reports/fuzz-stack.log")  # kept when a run found server errors


@dataclass
class Finding:
    count: int = 0
    examples: list[str] = field(default_factory=list)


@dataclass
class FuzzReport:
    cases: int = 0
    server_errors: int = 0
    undocumented: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    findings: dict[tuple[str, str, str], Finding] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.server_errors == 0 and self.undocumented == 0

    def record(self, operation: str, status: str, problem: str, example: str) -> None:
        finding = self.findings.setdefault((operation, status, problem), Finding())
        finding.count += 1
        if len(finding.examples) < EXAMPLES_KEPT:
            finding.examples.append(example)

    def details(self) -> str:
        lines = []
        for (operation, status, problem), finding in sorted(self.findings.items()):
            lines.append(f"{operation} -> {status}: {problem} ({finding.count}x)")
            lines.extend(f"    {example}" for example in finding.examples)
        return "\n".join(lines)

    def line(self) -> str:
        return (
            f"api fuzz: {self.cases} cases, {self.server_errors} server errors, "
            f"{self.undocumented} undocumented responses"
        )


class SigV4(requests.auth.AuthBase):
    """Signs each prepared request as the `nudge` CLI does (service execute-api)."""

    def __init__(self, credential: AdminCredential) -> None:
        self.credential = credential

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        data = body.encode() if isinstance(body, str) else body
        url = str(request.url)
        headers = {**request.headers, "host": urlsplit(url).netloc}
        request.headers.update(
            sign_request(self.credential, str(request.method), url, data, headers)
        )
        return request


def _json_message_problem(status: int, body: bytes) -> str | None:
    """Every 4xx is a JSON object whose `message` says what is wrong."""
    if not 400 <= status < 500:
        return None
    try:
        parsed = json.loads(body)
    except ValueError:
        return "4xx body is not JSON"
    if not isinstance(parsed, dict) or not isinstance(parsed.get("message"), str):
        return "4xx body has no string `message`"
    return None


def _snippet(case: Case, status: int | str, body: bytes, detail: str = "") -> str:
    """What was sent (as curl), what came back, and what is wrong with it."""
    text = body.decode(errors="replace")[:300]
    why = " ".join(detail.split())[:400]
    return f"{case.as_curl_command()[:600]}\n      -> {status} {text}" + (
        f"\n      {why}" if why else ""
    )


class Fuzzer:
    def __init__(self, client: LocalClient, report: FuzzReport, progress: bool) -> None:
        self.client = client
        self.report = report
        self.progress = progress
        self.mobile = requests.Session()
        self.admin = requests.Session()
        self.admin.auth = SigV4(client.admin)
        self.user_token = ("", "")

    def token(self, number: int) -> str:
        user = f"fuzz-{number // CASES_PER_USER}"
        if self.user_token[0] != user:
            self.user_token = (user, self.client.token(user))
        return self.user_token[1]

    def send(self, case: Case, admin: bool) -> None:
        report = self.report
        report.cases += 1
        if self.progress and report.cases % PROGRESS_EVERY == 0:
            print(f"api fuzz: {report.line().split(': ', 1)[1]} so far", flush=True)
        label = case.operation.label
        try:
            if admin:
                response = case.call(session=self.admin, timeout=REQUEST_TIMEOUT_S)
            else:
                response = case.call(
                    session=self.mobile,
                    headers={"Authorization": f"Bearer {self.token(report.cases)}"},
                    timeout=REQUEST_TIMEOUT_S,
                )
        except requests.RequestException as error:  # no answer (a hang, a dropped connection)
            report.server_errors += 1
            report.record(label, "no answer", type(error).__name__, _snippet(case, "-", b""))
            return
        status, body = response.status_code, response.content
        report.statuses[status] += 1
        if status >= 500:
            report.server_errors += 1
            report.record(label, str(status), "server error", _snippet(case, status, body))
            return
        problems: list[tuple[str, str]] = []
        try:
            case.validate_response(response, checks=CHECKS)
        except FailureGroup as failures:
            problems = [(f.title, f.message) for f in failures.exceptions]
        own = _json_message_problem(status, body)
        if own:
            problems.append((own, ""))
        if problems:
            report.undocumented += 1
        for title, detail in problems:
            report.record(label, str(status), title, _snippet(case, status, body, detail))


def _operations(document: Path, base_url: str) -> Iterator[Any]:
    schema = schemathesis.openapi.from_path(document)
    schema.config.update(base_url=base_url)
    # the fuzzer sends real credentials; generated ones would only be refused (401/403)
    schema.config.generation.update(with_security_parameters=False)
    for result in schema.get_all_operations():
        if isinstance(result, Err):  # the document itself is broken: say so, don't skip it
            raise result.err()
        yield result.ok()


def _run_operation(
    operation: Any, mode: GenerationMode, examples: int, seed: int, send: Callable[[Case], None]
) -> int:
    """Up to `examples` cases of one operation; returns how many ran (fewer: input exhausted)."""
    ran = 0

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # findings are collected, not raised: nothing to shrink
        suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case) -> None:
        nonlocal ran
        ran += 1
        send(case)

    with contextlib.suppress(Unsatisfiable):  # nothing invalid to generate (no inputs)
        run()
    return ran


DOCUMENTS = {"mobile": MOBILE_OPENAPI_PATH, "admin": ADMIN_OPENAPI_PATH}


def fuzz(
    client: LocalClient,
    cases: int = DEFAULT_CASES,
    seed: int = 0,
    apis: tuple[str, ...] = ("mobile", "admin"),
    progress: bool = False,
) -> FuzzReport:
    """At least `cases` cases over both documents' operations, positive and negative: each
    round shares what is left among the operations whose inputs are not exhausted."""
    report = FuzzReport()
    fuzzer = Fuzzer(client, report, progress)
    started = time.monotonic()
    plan = [
        (operation, mode, api == "admin")
        for api in apis
        for operation in _operations(DOCUMENTS[api], client.api_url)
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]
    rounds = 0
    while plan and report.cases < cases:
        share = max(1, math.ceil((cases - report.cases) / len(plan)))
        still_open = []
        for index, (operation, mode, admin) in enumerate(plan):
            ran = _run_operation(
                operation,
                mode,
                share,
                seed + rounds * len(plan) + index,
                lambda case, admin=admin: fuzzer.send(case, admin),  # type: ignore[misc]
            )
            if ran >= share:  # not exhausted: it can take more in the next round
                still_open.append((operation, mode, admin))
        plan = still_open
        rounds += 1
    report.seconds = time.monotonic() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=DEFAULT_CASES, help="at least this many")
    parser.add_argument("--seed", type=int, default=None, help="replay a run (it prints its seed)")
    parser.add_argument("--api", choices=[*DOCUMENTS, "both"], default="both")
    args = parser.parse_args(argv)
    seed = random.randrange(2**32) if args.seed is None else args.seed
    with tempfile.TemporaryDirectory(prefix="nudge-fuzz-") as state:
        state_dir = Path(state)
        print(f"api fuzz: starting a local stack in {state_dir} (seed {seed})", flush=True)
        process.up(state_dir)
        try:
            apis = tuple(DOCUMENTS) if args.api == "both" else (args.api,)
            report = fuzz(LocalClient.from_state_dir(state_dir), args.cases, seed, apis, True)
        finally:
            process.down(state_dir)
        if report.server_errors:  # the tracebacks are in the stack's log
            STACK_LOG.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(state_dir / "local.log", STACK_LOG)
            print(f"api fuzz: the stack's log (with the tracebacks) is in {STACK_LOG}")
    if report.findings:
        print(report.details())
    statuses = ", ".join(f"{code}: {n}" for code, n in sorted(report.statuses.items()))
    print(f"api fuzz: {report.seconds:.0f} s, statuses {statuses}")
    print(report.line(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
