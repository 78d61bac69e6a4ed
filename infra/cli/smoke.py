"""`nudge smoke`: after a deploy, one event in through the mobile API, seen in GET /v1/me,
then erased with DELETE /v1/me; each step printed, a non-zero exit on any failure."""

from __future__ import annotations

import argparse
import base64
import json
import os
import time
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SMOKE_EVENT = "nudge_smoke_test"


def _smoke_request(
    api_url: str, token: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    """One mobile-API call with the app's JWT: (status, parsed JSON or the error text)."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"authorization": f"Bearer {token}", "accept": "application/json"}
    if data is not None:
        headers["content-type"] = "application/json"
    request = urllib.request.Request(  # noqa: S310 - the API URL the operator chose
        f"{api_url}{path}", data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return int(response.status), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode(errors="replace")[:300]
    except (urllib.error.URLError, OSError) as error:
        return 0, f"cannot reach {api_url}: {getattr(error, 'reason', error)}"


def _token_subject(token: str) -> str:
    """The JWT's `sub`, read without verifying it (the API verifies it): for the output only."""

    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return str(claims.get("sub", "?"))
    except (IndexError, ValueError):
        return "?"


def _smoke_history_has(api_url: str, token: str, event_id: str) -> tuple[bool, str]:
    """Is the event in GET /v1/me's history (every page)? (found, why not)."""
    after: str | None = None
    from urllib.parse import quote

    while True:
        path = "/v1/me" + (f"?history_after={quote(after, safe='')}" if after else "")
        status, body = _smoke_request(api_url, token, "GET", path)
        if status != 200 or not isinstance(body, dict):
            return False, f"GET /v1/me answered {status}: {body}"
        history = body.get("history") or []
        if any(r.get("type") == "event" and r.get("event_id") == event_id for r in history):
            return True, ""
        after = body.get("history_next")
        if not after:
            return False, "not in the history yet"


def _smoke(args: argparse.Namespace) -> int:
    """Post one event as the token's user, wait for it in GET /v1/me, erase, check it's gone.

    The whole path a phone's data takes (API, JWT authorizer, events_api, the events queue,
    event_processor, DynamoDB, devices_api), and the erase. Every step prints ok/FAILED with
    its time; the exit code is 1 at the first failure.
    """

    api_url = args.smoke_api_url or args.api_url or os.environ.get("NUDGE_API_URL")
    if not api_url:
        state_file = Path(args.state_dir) / "local.json"
        if not state_file.exists():
            raise SystemExit("give --api-url (the stack's ApiUrl output), or start the local stack")
        api_url = json.loads(state_file.read_text())["api_url"]
    api_url = api_url.rstrip("/")
    token = args.token
    at = datetime.fromisoformat(args.at) if args.at else datetime.now(UTC)
    if at.tzinfo is None:
        raise SystemExit("--at needs a time zone, e.g. 2026-11-23T09:00:00Z")
    event_id = f"smoke-{uuid.uuid4().hex}"
    print(f"smoke test of {api_url} as user {_token_subject(token)} (erased at the end)")
    started = time.monotonic()

    def step(name: str, ok: bool, detail: str, since: float) -> bool:
        elapsed = time.monotonic() - since
        print(f"{'ok' if ok else 'FAILED':7} {name:32} {elapsed:6.2f} s  {detail}".rstrip())
        return ok

    def finish(ok: bool) -> int:
        total = time.monotonic() - started
        print(f"smoke test {'passed' if ok else 'FAILED'} in {total:.1f} s")
        return 0 if ok else 1

    # 1. one event, accepted
    since = time.monotonic()
    body = {
        "events": [
            {"event_id": event_id, "name": SMOKE_EVENT, "timestamp": at.isoformat(),
             "properties": {"source": "nudge smoke"}}
        ]
    }  # fmt: skip
    status, answer = _smoke_request(api_url, token, "POST", "/v1/events", body)
    accepted = status == 202 and isinstance(answer, dict) and answer.get("accepted") == 1
    if not accepted:
        if isinstance(answer, dict) and answer.get("rejected"):
            detail = f"rejected: {answer['rejected'][0].get('error')}"
        else:
            detail = f"answered {status}: {answer}"
        step("POST /v1/events", False, detail, since)
        return finish(False)
    step("POST /v1/events", True, f"202, event {event_id}", since)

    # 2. queued, processed, stored: it shows in the caller's export
    since = time.monotonic()
    deadline = since + args.wait
    while True:
        found, why = _smoke_history_has(api_url, token, event_id)
        if found or time.monotonic() >= deadline or why.startswith("GET"):
            break
        time.sleep(1.0)
    if not found:
        detail = why if why.startswith("GET") else (
            f"not in GET /v1/me's history after {args.wait:.0f} s: is event_processor running? "
            "(look at the events DLQ and the EventProcessor log group)"
        )  # fmt: skip
        step("event in GET /v1/me history", False, detail, since)
        return finish(False)
    step("event in GET /v1/me history", True, "", since)

    # 3. erase
    since = time.monotonic()
    status, answer = _smoke_request(api_url, token, "DELETE", "/v1/me")
    if not step("DELETE /v1/me", status == 200, f"answered {status}: {answer}", since):
        return finish(False)

    # 4. nothing left
    since = time.monotonic()
    status, answer = _smoke_request(api_url, token, "GET", "/v1/me")
    left: list[str] = []
    if status == 200 and isinstance(answer, dict):
        left = [key for key in ("profile", "summary", "preferences") if answer.get(key)]
        left += [key for key in ("history", "devices") if answer.get(key)]
        left += [f"surveys.{k}" for k, v in (answer.get("surveys") or {}).items() if v]
        detail = f"still there: {', '.join(left)}" if left else "nothing stored"
    else:
        detail = f"answered {status}: {answer}"
    return finish(step("GET /v1/me empty", status == 200 and not left, detail, since))


def add_commands(sub: argparse._SubParsersAction) -> None:
    smoke = sub.add_parser(
        "smoke",
        help="post-deploy check: an event in, seen in GET /v1/me, erased (the token's user)",
    )
    smoke.add_argument("--api-url", dest="smoke_api_url", help="the stack's ApiUrl output")
    smoke.add_argument(
        "--token", required=True, help="an app JWT of a test user (its data is erased)"
    )
    smoke.add_argument("--wait", type=float, default=60.0, help="seconds to wait for the event")
    smoke.add_argument("--at", help="the event's timestamp (default: now), ISO 8601 with zone")
    smoke.set_defaults(func=_smoke)
