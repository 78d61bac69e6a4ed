"""`nudge broadcast --at` / `--local-time --date`: the CLI asks for a scheduled start and
prints the estimate and the planned start(s) from the answer."""

from __future__ import annotations

from typing import Any

import pytest

from nudge.api.admin_routes import _schedule
from nudge.models.broadcast import BroadcastRequest
from nudge.models.template import MessageTemplate
from nudge.services.messaging.broadcasts import fan_out_plan
from nudge_cli import messaging
from nudge_cli.main import main
from tests.unit.test_broadcast_schedule import ZONES, service

XMAS = MessageTemplate.model_validate(
    {"id": "xmas", "category": "marketing", "text": {"en": {"title": "Hi", "body": "Ho"}}}
)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Bodies the CLI posts, answered as the admin API would (a real service over fakes)."""
    bodies: list[dict[str, Any]] = []
    svc, _, _ = service(list(ZONES), ZONES)
    svc.templates = {"xmas": XMAS}

    def admin_call(args: Any, method: str, path: str, body: Any = None) -> Any:
        assert (method, path) == ("POST", "/admin/v1/broadcasts")
        bodies.append(body)
        created = svc.create(BroadcastRequest.model_validate(body))
        return {
            "broadcast_id": created.broadcast_id,
            "status": created.status,
            "plan": fan_out_plan(len(ZONES), created.rate_per_minute),
            "estimate": created.estimate,
            "schedule": _schedule(created),
        }

    monkeypatch.setattr(messaging, "admin_call", admin_call)
    return bodies


BASE = ["broadcast", "--template", "xmas", "--users", "tokyo,kolkata", "--dedupe-key", "x1"]


def test_at_an_instant(sent: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--at", "2026-12-24T09:00:00Z"]) == 0
    assert sent[0]["start_at"] == "2026-12-24T09:00:00Z" and "local_time" not in sent[0]
    out = capsys.readouterr().out
    assert "starts 2026-12-24T09:00:00+00:00" in out
    assert "audience: about 2 users (exact)" in out


def test_at_a_local_time(sent: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*BASE, "--local-time", "09:00", "--date", "2026-12-24"]) == 0
    assert (sent[0]["local_time"], sent[0]["local_date"]) == ("09:00", "2026-12-24")
    out = capsys.readouterr().out
    assert "at 09:00 local on 2026-12-24 in " in out
    assert "next 2026-12-23T19:00:00+00:00" in out  # 09:00 at UTC+14 comes first


def test_at_and_local_time_together_are_refused(sent: list[dict[str, Any]]) -> None:
    with pytest.raises(SystemExit):
        main([*BASE, "--at", "2026-12-24T09:00:00Z", "--local-time", "09:00"])
    assert sent == []
