"""Delivery log items read as the deliveries they record (adapters/delivery_log.py writes
them): a job record is one delivery per device claimed, an outcome item one."""

from __future__ import annotations

import json
from typing import Any

from nudge.domain.messaging.job_record import SENDING, decode_devices
from nudge.models.push import Delivery, Outcome


def delivery_of(item: dict[str, Any]) -> Delivery:
    if "d" in item:  # a job record's body: the job's fields, compact
        fields = json.loads(item["body"]["S"])
        delivery = Delivery.model_validate({"device_id": None, "outcome": "sent", **fields})
    else:
        delivery = Delivery.model_validate_json(item["body"]["S"])
    marks = {f: int(item[f]["N"]) for f in ("opened_at", "dismissed_at") if f in item}
    return delivery.model_copy(update=marks) if marks else delivery


def old_device_key(rest: str) -> bool:
    """'<device>' after '<dedupe key>#': a per-device item of the old layout (not a marker,
    '=...', nor a job-level record, '-')."""
    return bool(rest) and "#" not in rest and rest != "-" and not rest.startswith("=")


OUTCOME_OF: dict[str, Outcome] = {SENDING: "sent", "failed": "failed", "unknown": "unknown"}


def records_of(item: dict[str, Any]) -> list[Delivery]:
    """An item's records: an outcome item (the old per-device layout, or a job-level one) is
    one; a job record is one per device claimed, `sending` read as sent (a released claim,
    `retry`, is none yet)."""
    delivery = delivery_of(item)
    if "d" not in item:
        return [delivery]
    return [
        delivery.model_copy(
            update={"device_id": device, "outcome": OUTCOME_OF[c.status], "reason": c.reason}
            | {"at": c.at, "job_id": c.job or delivery.job_id}
        )
        for device, c in decode_devices(item["d"]["S"]).items()
        if c.status in OUTCOME_OF
    ]
