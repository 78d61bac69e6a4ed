"""The engagement report routes of the admin API (routes derived from template.yaml)."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.integration.conftest import Aws
from tests.integration.test_handlers import api_event

pytestmark = pytest.mark.integration


def test_report_routes_answer_json_and_name_bad_input(aws: Aws) -> None:
    route = "GET /admin/v1/reports/campaigns/{campaign_id}"
    missing = api_event(
        "GET", "/admin/v1/reports/campaigns/nope", route=route, params={"campaign_id": "nope"}
    )
    response = aws.invoke("AdminApiFunction", missing)
    assert response["statusCode"] == 404
    assert "campaign_id" in json.loads(response["body"])["message"]
    bad = api_event("GET", "/admin/v1/reports/sunset", query="days=0")
    response = aws.invoke("AdminApiFunction", bad)
    assert response["statusCode"] == 400 and "days" in json.loads(response["body"])["message"]
    for path in ("/admin/v1/reports/sunset", "/admin/v1/reports/engagement"):
        response = aws.invoke("AdminApiFunction", api_event("GET", path, query="days=3"))
        assert response["statusCode"] == 200, response
        body = json.loads(response["body"])
        assert body["since"] <= body["until"]
    response = aws.invoke("AdminApiFunction", api_event("GET", "/admin/v1/reports/engagement"))
    assert len(json.loads(response["body"])["daily"]) == 30
    routes = (
        {f"{r.method} {r.path}" for r in aws.spec.routes} if hasattr(aws.spec, "routes") else set()
    )
    assert not routes or "GET /admin/v1/reports/campaigns/{campaign_id}" in routes


def test_the_scheduler_tick_auto_pauses_alerts_and_sends_the_weekly_sunset_advice(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from nudge import runtime
    from nudge.adapters.dynamodb import _named_counter_updates
    from nudge.domain.engagement.counters import counter_name
    from tests.integration.conftest import sample_event
    from tests.unit.test_campaign_configs import campaign_yaml

    sns = boto3.client("sns", region_name="us-east-1")  # ops' topic, with a queue to read it
    topic = sns.create_topic(Name="ops")
    queue_url = aws.sqs.create_queue(QueueName="ops-inbox")["QueueUrl"]
    arn = aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    sns.subscribe(
        TopicArn=topic["TopicArn"], Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"]
    )
    aws.deploy_with(monkeypatch, AlarmTopicArn=topic["TopicArn"])
    loaded = runtime.campaign_configs().load_object(
        "campaigns/welcome.yaml", campaign_yaml("welcome").encode(), None
    )
    assert loaded.result == "loaded"
    aws.clock.advance(timedelta(days=1))
    name = counter_name("welcome", int(aws.clock.now().timestamp()))
    counts = {name: {"delivered.a": 300, "opt_out.a.category": 9}}
    aws.ddb.transact_write_items(TransactItems=_named_counter_updates("ProfilesTable", "u", counts))
    result = aws.invoke("SchedulerFunction", sample_event("scheduler/tick.json"))
    assert result["auto_paused"] == ["welcome"]
    head = runtime.config_store().head("campaign", "welcome")
    assert (
        head is not None
        and head.status == "paused"
        and "3.0% (9 of 300)" in str(head.status_reason)
    )
    assert result["sunset_digest_sent"] is True
    messages = aws.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    bodies = sorted(json.loads(json.loads(m["Body"])["Message"])["type"] for m in messages)
    assert bodies == ["campaign_auto_paused", "weekly_sunset"]
    again = aws.invoke("SchedulerFunction", sample_event("scheduler/tick.json"))
    assert again["auto_paused"] == [] and again["sunset_digest_sent"] is False
    assert "Messages" not in aws.sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)
