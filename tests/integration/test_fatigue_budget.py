"""The one fatigue budget through the real handlers, with the template's IAM roles enforced:
push_sender books API messages, event_processor books a survey prompt and reads the budget
for a campaign decision, and erasing the user (DELETE /v1/me) erases their ledger."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from nudge import runtime
from nudge.adapters.devices import DynamoDeviceStore
from nudge.adapters.fatigue import LEDGER_SK
from nudge.clock import to_epoch
from nudge.models.device import Preferences
from nudge.services.campaigns.runner import counter_name
from tests.integration.conftest import Aws
from tests.integration.test_handlers import api_event, deliver, good_event, post_events
from tests.integration.test_push_once import deliver as deliver_push
from tests.integration.test_push_once import put_devices, sender

pytestmark = pytest.mark.integration
__all__ = ["sender"]  # the fixture: push_sender with the FCM emulator

SURVEY = """\
id: nps-marketing
status: active
trigger: { event: trip_completed }
category: marketing
questions: { score: "How likely are you to recommend us?" }
"""
CAMPAIGN = """\
id: promo
name: Promo
status: active
category: marketing
trigger: { event: { name: search } }
holdout_pct: 0
variants: [{ id: a, title: Hi, body: Sale }]
"""


def api_message(aws: Aws, key: str) -> dict[str, Any]:
    """A marketing message for ann on the pushes queue, received."""
    body = {
        "job_id": f"job-{key}",
        "user_id": "ann",
        "dedupe_key": key,
        "created_at": aws.clock.now().isoformat(),
        "source": "admin",
        "template": {
            "id": "promo",
            "category": "marketing",
            "text": {"en": {"title": "Sale", "body": "Today only"}},
        },
    }
    url = aws.queue_url("PushesQueue")
    aws.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
    (message,) = aws.sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["All"]
    )["Messages"]
    return message


def ledger_keys(aws: Aws) -> list[str]:
    item = aws.ddb.get_item(
        TableName="DeliveryLogTable", Key={"user_id": {"S": "ann"}, "sk": {"S": LEDGER_SK}}
    ).get("Item")
    return [row[0] for row in json.loads(item["entries"]["S"])] if item else []


def test_every_path_books_into_one_budget_under_the_functions_iam(sender: Aws) -> None:
    aws = sender
    put_devices(aws, "ann")
    DynamoDeviceStore("DevicesTable", ddb=aws.ddb).save_preferences(
        Preferences(user_id="ann", categories={"marketing": True}, timezone="Europe/Amsterdam"),
        None,
    )
    runtime.survey_configs().publish(SURVEY, "surveys/nps-marketing.yaml")

    first, second = api_message(aws, "promo-1"), api_message(aws, "promo-2")
    assert deliver_push(aws, first, 1) == [] and deliver_push(aws, second, 1) == []
    assert deliver_push(aws, first, 2) == []  # redelivered: booked once, sent once
    # a survey prompt takes the day's third marketing slot (event_processor's grant)
    post_events(aws, [good_event(1, aws, "trip_completed")])
    assert deliver(aws) == {"batchItemFailures": []}
    assert runtime.survey_store().user_surveys("ann").states  # the prompt was created
    assert len(ledger_keys(aws)) == 3 and ledger_keys(aws)[:2] == ["promo-1", "promo-2"]

    third = api_message(aws, "promo-3")
    assert deliver_push(aws, third, 1) == []
    (refused,) = [d for d in runtime.delivery_log().for_user("ann") if d.dedupe_key == "promo-3"]
    assert (refused.outcome, refused.reason) == ("suppressed", "fatigue_cap")

    # a campaign decided in event_processor reads the same budget: full for today
    runtime.campaign_configs().publish_campaign(CAMPAIGN, "campaigns/promo.yaml")
    aws.clock.advance(timedelta(minutes=1))  # past the processor's catalog cache
    post_events(aws, [good_event(2, aws, "search")])
    assert deliver(aws) == {"batchItemFailures": []}
    name = counter_name("promo", to_epoch(aws.clock.now()))
    assert runtime.profile_store().counters([name])[name]["suppressed.global_cap"] == 1
    assert aws.receive_all("PushesQueue") == []

    erased = aws.invoke("DevicesApiFunction", api_event("DELETE", "/v1/me"))
    assert erased["statusCode"] == 200, erased
    assert ledger_keys(aws) == []
