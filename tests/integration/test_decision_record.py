"""Issue 21 item 6 over moto with the template's IAM: campaign decisions land in the history
table with their own expiry, once per changed outcome, and are read back through the admin
route, `nudge user why` and GET /v1/me."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from nudge.api.admin_models import UserDecisions
from nudge.clock import DAY
from nudge_cli.main import main
from tests.integration.conftest import Aws, sample_event, sqs_event
from tests.integration.test_configs import upload
from tests.integration.test_erasure_complete import call, post_events
from tests.integration.test_handlers import api_event

pytestmark = pytest.mark.integration

USER = "ann-why"
CAMPAIGN = """\
id: weekend-deals
name: Weekend deals
category: marketing
status: active
priority: 10
trigger:
  event: { name: trip_planned }
variants:
  - id: a
    weight: 1
    title: "Deals"
    body: "Cheaper this weekend"
delivery: { cooldown: 1h, max_per_user: 1, ttl: 12h }
"""


def decision_items(aws: Aws) -> list[dict[str, Any]]:
    items = aws.ddb.query(
        TableName=str(aws.resolver.physical["HistoryTable"]["Ref"]),
        KeyConditionExpression="user_id = :u AND begins_with(sk, :d)",
        ExpressionAttributeValues={":u": {"S": USER}, ":d": {"S": "d#"}},
    )["Items"]
    return list(items)


def why_through_admin_api(aws: Aws, path: str) -> Any:
    """What `admin_call` gets, from AdminApiFunction under its own IAM role."""
    parts = urlsplit(path)
    route = "GET /admin/v1/users/{user_id}/decisions"
    event = api_event("GET", parts.path, route=route, params={"user_id": USER}, query=parts.query)
    response = aws.invoke("AdminApiFunction", event)
    assert response["statusCode"] == 200, response
    return json.loads(response["body"])


def test_decisions_are_recorded_once_per_outcome_and_read_back_everywhere(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert upload(aws, "campaigns/weekend-deals.yaml", CAMPAIGN)["results"][0]["result"] == "loaded"
    post_events(aws, USER, {"name": "trip_planned"})  # marketing is opt-in: suppressed
    aws.clock.advance(timedelta(minutes=5))
    post_events(aws, USER, {"name": "trip_planned", "event_id": "again-1"})  # the same outcome
    call(aws, "PUT", "/v1/me/preferences", {"categories": {"marketing": True}}, USER)
    aws.clock.advance(timedelta(minutes=5))
    post_events(aws, USER, {"name": "trip_planned", "event_id": "again-2"})  # sent

    items = decision_items(aws)
    assert len(items) == 2, items  # one item per pass that recorded any
    for item in items:
        at = int(item["sk"]["S"].split("#")[1])
        assert int(item["expires_at"]["N"]) == at + 30 * DAY

    answer = why_through_admin_api(aws, f"/admin/v1/users/{USER}/decisions?campaign=weekend-deals")
    UserDecisions.model_validate(answer)
    decided = [(d["action"], d["reason"]) for d in answer["decisions"] if d["stage"] == "decided"]
    assert decided == [("send", None), ("suppress", "consent")]

    from nudge_cli import users

    monkeypatch.setattr(
        users, "admin_call", lambda args, method, path: why_through_admin_api(aws, path)
    )
    assert main(["user", "why", USER, "--campaign", "weekend-deals"]) == 0
    out = capsys.readouterr().out
    assert "suppress (consent): the user has not consented to this category" in out
    assert "not recorded: outside the audience or without a device" in out

    mine = aws.invoke("DevicesApiFunction", api_event("GET", "/v1/me", user=USER))
    assert mine["statusCode"] == 200, mine
    history = json.loads(mine["body"])["history"]
    rows = [
        (record["campaign"], record["action"])
        for h in history
        if h["type"] == "decision"
        for record in h["records"]
    ]
    assert sorted(rows) == [("weekend-deals", "send"), ("weekend-deals", "suppress")]


DELAYED = CAMPAIGN.replace("id: weekend-deals", "id: cart-nudge").replace(
    "event: { name: trip_planned }", "event: { name: cart_updated, delay: 30m }"
)


def test_the_scheduler_worker_records_the_delayed_decision_under_its_own_role(aws: Aws) -> None:
    assert upload(aws, "campaigns/cart-nudge.yaml", DELAYED)["results"][0]["result"] == "loaded"
    call(aws, "PUT", "/v1/me/preferences", {"categories": {"marketing": True}}, USER)
    post_events(aws, USER, {"name": "cart_updated"})
    assert decision_items(aws) == []  # a delayed trigger is no decision yet
    aws.clock.advance(timedelta(hours=1))
    aws.invoke("SchedulerFunction", sample_event("scheduler/tick.json"))
    for message in aws.receive_all("SchedulerShardsQueue"):
        work = sqs_event("SchedulerShardsQueue", [message])
        assert aws.invoke("SchedulerWorkerFunction", work) == {"batchItemFailures": []}
    (item,) = decision_items(aws)
    (record,) = json.loads(item["body"]["S"])
    assert (record["campaign"], record["action"]) == ("cart-nudge", "send")
    assert int(item["expires_at"]["N"]) == int(item["sk"]["S"].split("#")[1]) + 30 * DAY
