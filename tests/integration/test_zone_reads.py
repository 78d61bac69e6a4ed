"""The reads behind the one time-zone resolver, through the real adapters and each function's
role from template.yaml: the event processor and the scheduler list a user's devices when a
send window needs the zone; push_sender reads the profile when neither preferences nor
devices name one (a missing grant is denied here as in AWS)."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from nudge_local import aws_guard
from tests.integration.conftest import Aws

pytestmark = pytest.mark.integration

TOKYO = ZoneInfo("Asia/Tokyo")


def _device(user: str, zone: str | None, now: int) -> None:
    from nudge import runtime
    from nudge.models.device import Device

    runtime.device_store().put_device(
        Device(
            user_id=user,
            device_id="phone",
            token=f"tok-{user}",
            platform="android",
            locale="en",
            timezone=zone,
            created_at=now,
            updated_at=now,
        )
    )


@pytest.mark.parametrize("function", ["EventProcessorFunction", "SchedulerWorkerFunction"])
def test_campaign_decisions_list_the_devices_for_a_send_window(aws: Aws, function: str) -> None:
    from nudge import runtime
    from nudge.models.device import Preferences
    from nudge.models.events import IncomingEvent
    from nudge.models.profile import Profile

    now = aws.clock.now()
    epoch = int(now.timestamp())
    local = now.astimezone(TOKYO)
    start, end = local + timedelta(hours=1), local + timedelta(hours=2)
    text = f"""\
id: windowed
name: Windowed
category: marketing
status: active
trigger: {{event: {{name: browse}}}}
delivery: {{send_window: {{start: "{start:%H:%M}", end: "{end:%H:%M}"}}}}
variants: [{{id: a, title: Hi, body: Hello}}]
"""
    loaded = runtime.campaign_configs().load_object("campaigns/windowed.yaml", text.encode(), None)
    assert loaded.result == "loaded"
    _device("ann", "Asia/Tokyo", epoch)
    runtime.device_store().save_preferences(
        Preferences(user_id="ann", categories={"marketing": True}), None
    )
    profile = Profile(user_id="ann", first_seen=epoch, last_seen=epoch)
    event = IncomingEvent(event_id="e1", name="browse", timestamp=now)
    with aws_guard.acting_as(function):
        (decision,) = runtime.campaign_runner().decide(profile, epoch, [event]).decisions
    assert (decision.action, decision.reason) == ("wait", "send_window")
    assert decision.wait_until == epoch - epoch % 60 + 3600  # the window opens in Tokyo
    assert not aws.iam.denials


def test_push_sender_reads_the_profile_when_nothing_else_names_a_zone(aws: Aws) -> None:
    from nudge import runtime
    from nudge.models.device import Preferences, QuietHours
    from nudge.models.profile import Attribute, Profile
    from nudge.models.push import PushJob

    now = aws.clock.now()
    epoch = int(now.timestamp())
    local = now.astimezone(TOKYO).replace(second=0, microsecond=0)
    _device("bob", None, epoch)
    quiet = QuietHours(
        start=(local - timedelta(hours=1)).time(), end=(local + timedelta(hours=1)).time()
    )
    runtime.device_store().save_preferences(
        Preferences(
            user_id="bob", categories={"marketing": True}, quiet_hours=quiet, quiet_hours_set=True
        ),
        None,
    )
    attributes = {"timezone": Attribute(value="Asia/Tokyo", at=epoch)}
    profile = Profile(user_id="bob", first_seen=epoch, last_seen=epoch, attributes=attributes)
    assert runtime.profile_store().save(profile, None, 1)
    job = PushJob.model_validate(
        {
            "job_id": "j1",
            "user_id": "bob",
            "dedupe_key": "k1",
            "created_at": now.isoformat(),
            "template": {
                "id": "promo",
                "category": "marketing",
                "text": {"en": {"title": "Hi", "body": "Hello"}},
            },
        }
    )
    with aws_guard.acting_as("PushSenderFunction"):
        result = runtime.push_service().process(job.model_dump_json())
    # quiet hours in Tokyo (from the profile): deferred to their end, not withheld
    assert not result.done and [d.outcome for d in result.deliveries] == ["deferred"]
    assert abs(result.delay_s - 3600) <= 60
    assert not aws.iam.denials
