"""A campaign end to end: validated and pushed with the CLI, users act over virtual days, and
the FCM emulator's inbox holds exactly the pushes the rules allow."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from nudge_local.client import LocalClient
from tests.e2e.helpers import event, inbox, nudge

pytestmark = pytest.mark.e2e


def test_cart_reminder_sends_exactly_what_the_rules_allow(
    tmp_path: Path, stack_dir: Path, client: LocalClient
) -> None:
    cid = f"cart-{uuid.uuid4().hex[:8]}"
    config = tmp_path / f"{cid}.yaml"
    config.write_text(
        f"""\
id: {cid}
name: Cart reminder
category: marketing
status: active
trigger:
  event: {{ name: cart_updated, delay: 30m, unless: [checkout_completed] }}
variants:
  - id: a
    title: "Still thinking about {{{{ event.item | default('it') }}}}?"
    body: Your cart is waiting
delivery: {{ cooldown: 1d, max_per_user: 5, ttl: 6h, respect_quiet_hours: false }}
goal: {{ event: checkout_completed, within: 1d }}
"""
    )
    assert nudge(stack_dir, "campaign", "validate", str(config)).returncode == 0
    pushed = nudge(stack_dir, "campaign", "push", str(config))
    assert pushed.returncode == 0, pushed.stdout + pushed.stderr
    client.advance("1m")  # the pipeline picks up the published set within 30 s

    people = {name: f"{name}-{uuid.uuid4().hex[:8]}" for name in ("ann", "bob", "cy")}
    tokens = {}
    for name, user_id in people.items():
        tokens[name] = f"tok-{uuid.uuid4().hex}"
        device = {"token": tokens[name], "platform": "ios", "locale": "en-GB"}
        assert client.request("PUT", "/v1/devices/phone", user=user_id, json_body=device).ok
        consent = {"categories": {"marketing": name != "cy"}}  # cy never opted in
        assert client.request("PUT", "/v1/me/preferences", user=user_id, json_body=consent).ok

    start = datetime.fromisoformat(client.now())
    cart = event("cart_updated", start, item="headphones")
    for name in people:
        assert client.post_events(people[name], [cart]).status_code == 202
    assert client.post_events(people["ann"], [cart]).status_code == 202  # a retried request
    later = event("cart_updated", start + timedelta(minutes=5), item="a case")
    assert client.post_events(people["ann"], [later]).status_code == 202  # within the cooldown
    done = event("checkout_completed", start + timedelta(minutes=10))
    assert client.post_events(people["bob"], [done]).status_code == 202  # bought: no reminder
    client.drain()
    assert all(inbox(client, token) == [] for token in tokens.values())  # not before 30 min

    client.advance("2h")
    client.drain()
    assert inbox(client, tokens["ann"]) == ["Still thinking about headphones?"]
    assert inbox(client, tokens["bob"]) == []
    assert inbox(client, tokens["cy"]) == []

    client.advance("2d")  # the cooldown is over: a new cart, a new reminder
    again = event("cart_updated", datetime.fromisoformat(client.now()), item="a charger")
    assert client.post_events(people["ann"], [again]).status_code == 202
    client.advance("1h")
    client.drain()
    assert inbox(client, tokens["ann"]) == [
        "Still thinking about headphones?",
        "Still thinking about a charger?",
    ]

    report = nudge(stack_dir, "report", "campaigns", "--days", "7", "--json")
    assert report.returncode == 0, report.stderr
    row = json.loads(report.stdout)["campaigns"][cid]
    assert row["sent"] == 2
    assert row["suppressed"] == {"consent": 1, "cooldown": 1, "unless": 1}
