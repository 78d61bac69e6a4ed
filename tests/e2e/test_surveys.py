"""NPS end to end: CLI push, a trigger event, the prompt, an answer in two parts, the report,
and the detractor webhook (one injected failure, then exactly one delivery)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from nudge_local.client import LocalClient
from nudge_local.webhook import WebhookReceiver
from tests.e2e.helpers import nudge

pytestmark = pytest.mark.e2e


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(fail_first=1) as receiver:  # one injected failure
        yield receiver


def test_survey_prompt_answer_report_and_detractor_webhook(
    tmp_path: Path, stack_dir: Path, client: LocalClient, webhook: WebhookReceiver
) -> None:
    sid = f"nps-{uuid.uuid4().hex[:8]}"
    config = tmp_path / f"{sid}.yaml"
    config.write_text(
        f"""\
id: {sid}
name: After a trip
status: active
trigger: {{ event: trip_completed }}
sample_pct: 100
questions:
  score: How likely are you to recommend us to a friend?
  reason:
    promoter: What do you love most?
    passive: What would make it a 10?
    detractor: What disappointed you?
  follow_up: What one thing could we improve?
localization:
  nl: {{ score: "Hoe waarschijnlijk is het dat je ons aanbeveelt?" }}
on_detractor: {{ webhook: "{webhook.url}" }}
"""
    )
    result = nudge(stack_dir, "survey", "push", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "live as version 1" in result.stdout
    # the processor reads the survey catalog at most every 30 s (on the virtual clock)
    client.advance("1m")

    user = f"rider-{uuid.uuid4().hex[:8]}"
    trip = {"event_id": f"trip-{user}", "name": "trip_completed", "timestamp": client.now()}
    assert client.post_events(user, [trip]).status_code == 202
    client.drain()

    shown = client.request(
        "GET", "/v1/me/surveys/next", user=user, headers={"Accept-Language": "nl-NL,nl;q=0.9"}
    )
    assert shown.status_code == 200, shown.text
    prompt = shown.json()
    assert prompt["survey_id"] == sid
    assert prompt["questions"]["score"].startswith("Hoe waarschijnlijk")
    assert prompt["questions"]["reason"]["detractor"] == "What disappointed you?"

    path = f"/v1/surveys/{sid}/responses"
    base = {"prompt_id": prompt["prompt_id"], "answered_at": client.now()}
    score = {**base, "response_id": "part-1", "score": 3, "platform": "ios", "country": "NL"}
    first = client.request("POST", path, user=user, json_body=score)
    assert first.status_code == 200, first.text
    assert first.json()["category"] == "detractor"
    reason = {**base, "response_id": "part-2", "reason": "The trains were late every day"}
    second = client.request("POST", path, user=user, json_body=reason)
    assert second.status_code == 200, second.text
    retry = client.request("POST", path, user=user, json_body=reason)
    assert retry.json()["duplicate"] is True
    client.drain()

    assert client.request("GET", "/v1/me/surveys/next", user=user).status_code == 204
    statuses = [status for status, _, _ in webhook.received]
    assert statuses == [503, 200]  # one injected failure, then delivered exactly once
    _, headers, ticket = webhook.received[-1]
    assert ticket["idempotency_key"] == prompt["prompt_id"] == headers["X-Nudge-Idempotency-Key"]
    assert ticket["user_id"] == user and ticket["survey_id"] == sid
    assert ticket["score"] == 3 and ticket["platform"] == "ios"
    assert ticket["reason"] == "The trains were late every day"
    assert ticket["lifecycle_stage"] == "new"

    result = nudge(
        stack_dir, "nps", "report", sid, "--period", "weekly", "--by", "lifecycle", "--since", "7d"
    )
    assert result.returncode == 0, result.stderr
    assert "NPS -100 (n=1" in result.stdout
    assert "by lifecycle:" in result.stdout and "new" in result.stdout
    assert "themes (1 comments" in result.stdout
