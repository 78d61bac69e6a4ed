"""From a push job to FCM messages: who may get it, when, and what exactly is sent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from nudge.domain.messaging.consent import EffectivePreferences
from nudge.domain.messaging.delivery_time import (
    UNKNOWN_TIMEZONE,
    next_allowed,
    withheld_without_zone,
)
from nudge.domain.messaging.templates import check_payload, render
from nudge.models.device import Device
from nudge.models.push import PushJob
from nudge.models.template import RenderedMessage

MAX_DEFERRAL = timedelta(hours=12)  # SQS cannot hide a message for longer; it is re-checked


@dataclass(frozen=True)
class Gate:
    """The verdict before anything is sent: go, suppress (with a reason) or wait."""

    action: str  # "send", "suppress" or "defer"
    reason: str | None = None
    until: datetime | None = None


def gate(
    job: PushJob,
    preferences: EffectivePreferences,
    devices: list[Device],
    now: datetime,
    zone: Callable[[], str | None],
) -> Gate:
    """`zone`: the user's zone (None: unknown), asked only when quiet hours apply."""
    expires = job.created_at + timedelta(seconds=job.ttl_seconds)
    if now >= expires:
        return Gate("suppress", "expired")
    if not preferences.categories.get(job.template.category, False):
        return Gate("suppress", "consent")
    reachable = [d for d in devices if d.push_enabled]
    if not reachable:
        return Gate("suppress", "no_device" if not devices else "push_disabled")
    if job.template.quiet_hours_apply and preferences.quiet_hours is not None:
        local_zone = zone()
        if local_zone is None:  # quiet hours can't be placed: marketing waits for a zone
            if withheld_without_zone(job.template.category):
                return Gate("suppress", UNKNOWN_TIMEZONE)
            return Gate("send")
        allowed = next_allowed(now, preferences.quiet_hours, local_zone)
        if allowed > now:
            if allowed >= expires:
                return Gate("suppress", "quiet_hours")  # by the end of the night it is stale
            return Gate("defer", "quiet_hours", min(allowed, now + MAX_DEFERRAL))
    return Gate("send")


def fcm_message(
    job: PushJob, device: Device, text: RenderedMessage, now: datetime
) -> dict[str, Any]:
    """The FCM v1 message for one device, as JSON (also what the 4 KB limit is checked on)."""
    template = job.template
    remaining = max(
        1, int((job.created_at + timedelta(seconds=job.ttl_seconds) - now).total_seconds())
    )
    data = {"job_id": job.job_id, "template_id": template.id}
    if text.deep_link:
        data["deep_link"] = text.deep_link
    notification: dict[str, Any] = {"title": text.title, "body": text.body}
    if text.image:
        notification["image"] = text.image
    android: dict[str, Any] = {"priority": job.priority.upper(), "ttl": f"{remaining}s"}
    if template.android.channel_id:
        android["notification"] = {"channel_id": template.android.channel_id}
    aps: dict[str, Any] = {"interruption-level": template.apns.interruption_level}
    if template.apns.sound:
        aps["sound"] = template.apns.sound
    if template.apns.badge is not None:
        aps["badge"] = template.apns.badge
    if template.apns.thread_id:
        aps["thread-id"] = template.apns.thread_id
    headers = {
        "apns-priority": "10" if job.priority == "high" else "5",
        "apns-expiration": str(int(now.timestamp()) + remaining),
    }
    if template.collapse_key:
        android["collapse_key"] = template.collapse_key
        headers["apns-collapse-id"] = template.collapse_key
    message = {
        "token": device.token,
        "notification": notification,
        "data": data,
        "android": android,
        "apns": {"headers": headers, "payload": {"aps": aps}},
    }
    check_payload({"message": message})
    return message


def build_messages(
    job: PushJob, devices: list[Device], data: dict[str, Any], now: datetime
) -> list[tuple[Device, dict[str, Any]]]:
    """Render for each device's locale. Raises TemplateError (the job can never succeed)."""
    return [
        (device, fcm_message(job, device, render(job.template, device.locale, data), now))
        for device in devices
        if device.push_enabled
    ]
