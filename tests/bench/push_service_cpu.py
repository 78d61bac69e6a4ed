"""`make bench` section 4: push_sender's own CPU per job, around FirebaseSender.send."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def push_service_cpu(jobs: int = 2000) -> tuple[float, float]:
    """PushService.process per job over in-memory fakes (FCM, devices, delivery log), the
    fakes' own CPU left out (sampled): the sender's work around FCM; and of it the rendering
    (Jinja sandbox; a template is compiled once per process and source) and the FCM message
    with its 4 KB check, in ms."""
    from nudge.clock import ManualClock
    from nudge.domain.config import EngagementConfig
    from nudge.domain.messaging.push import build_messages
    from nudge.models.device import Device
    from nudge.models.push import PushJob
    from nudge.services.messaging.push import PushService
    from tests.bench.cpu_layers import LayerSampler
    from tests.fakes.delivery_log import FakeFcm, InMemoryDeliveryLog
    from tests.fakes.devices import InMemoryDeviceStore

    now = datetime(2026, 3, 2, 12, tzinfo=UTC)
    devices = InMemoryDeviceStore()
    for u in range(50):
        device = Device(
            user_id=f"u{u}",
            device_id="phone",
            token=f"token-{u:04d}",
            platform="android",
            locale="en-US",
            timezone="Europe/Amsterdam",
            created_at=0,
            updated_at=int(now.timestamp()),
        )
        devices.put_device(device)
    template = {
        "id": "t",
        "category": "transactional",
        "text": {
            "en": {"title": "Order {{ n }} shipped", "body": "For {{ name | default('you') }}"}
        },
    }
    parsed = [
        PushJob(
            job_id=f"j{i}",
            user_id=f"u{i % 50}",
            dedupe_key=f"k{i}",
            created_at=now,
            template=template,
            data={"n": i},
        )
        for i in range(jobs)
    ]
    bodies = [job.model_dump_json() for job in parsed]
    service = PushService(
        devices, InMemoryDeliveryLog(), FakeFcm(), EngagementConfig(), ManualClock(now)
    )
    service.process(bodies[0])  # warm: the compiled template, imports
    with LayerSampler() as layers:
        started = time.process_time()
        for body in bodies[1:]:
            service.process(body)
        spent = time.process_time() - started
    per_job = spent / (jobs - 1) - layers.per_item_ms(spent, jobs - 1).get("fakes", 0) / 1000
    phone = devices.devices("u0")
    started = time.process_time()
    for job in parsed[1:]:
        build_messages(job, phone, job.data, now)
    building = (time.process_time() - started) / (jobs - 1)
    return per_job * 1000, building * 1000
