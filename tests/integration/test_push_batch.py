"""Issue 23: the real push_sender handler sends an SQS batch's messages to FCM in one call
(one wait per batch, not per job), then records each job; over moto with the template's IAM
roles enforced and the local FCM emulator."""

from __future__ import annotations

from typing import Any

import pytest

from nudge import runtime
from nudge_local.fcm_emulator import FcmEmulator
from tests.integration.conftest import Aws, sqs_event
from tests.integration.test_push_once import inbox, outcomes, put_devices, queue_job, sender

pytestmark = pytest.mark.integration
__all__ = ["sender"]  # the fixture, shared with test_push_once


def test_a_batch_of_jobs_is_one_fcm_send_and_each_job_is_recorded(
    sender: Aws, emulator: FcmEmulator
) -> None:
    users = ["ann", "bob", "cyd", "dee"]
    tokens = {user: put_devices(sender, user) for user in users}
    messages = [queue_job(sender, user, "api", "works") for user in users]
    service = runtime.push_service()
    calls: list[int] = []
    send = service.fcm.send

    def counting(batch: Any) -> Any:
        if batch:
            calls.append(len(batch))
        return send(batch)

    service.fcm.send = counting
    try:
        result = sender.invoke("PushSenderFunction", sqs_event("PushesQueue", messages))
    finally:
        service.fcm.send = send
    assert result["batchItemFailures"] == []
    assert calls == [2 * len(users)]  # both devices of every job, in one send
    every = [token for user in users for token in tokens[user]]
    assert inbox(emulator, every) == {token: 1 for token in every}
    for user in users:
        assert outcomes(sender, user) == {"phone": "sent", "tablet": "sent"}
