"""`nudge smoke`, the post-deploy check, against the embedded local stack."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from nudge_local.client import LocalClient
from tests.e2e.helpers import nudge

pytestmark = pytest.mark.e2e


def test_smoke_posts_sees_and_erases_an_event(stack_dir: Path, client: LocalClient) -> None:
    user = f"smoke-{uuid.uuid4().hex[:8]}"
    token = client.token(user)
    # the local clock may have been moved by other tests: the event is stamped with its time
    run = nudge(
        stack_dir,
        "smoke",
        "--api-url",
        client.api_url,
        "--token",
        token,
        "--at",
        client.now(),
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert f"as user {user}" in lines[0]
    steps = [line for line in lines if line.startswith(("ok", "FAILED"))]
    assert [line.split()[0] for line in steps] == ["ok"] * 4, run.stdout
    assert "POST /v1/events" in steps[0] and "GET /v1/me history" in steps[1]
    assert "DELETE /v1/me" in steps[2] and "nothing stored" in steps[3]
    assert lines[-1].startswith("smoke test passed")
    export = client.request("GET", "/v1/me", user=user).json()
    assert export["profile"] is None and export["history"] == []


def test_smoke_fails_loudly_with_a_bad_token(stack_dir: Path) -> None:
    run = nudge(stack_dir, "smoke", "--token", "not-a-jwt", "--wait", "5")  # local.json's URL
    assert run.returncode == 1
    assert "FAILED  POST /v1/events" in run.stdout and "answered 401" in run.stdout
    assert run.stdout.splitlines()[-1].startswith("smoke test FAILED")
