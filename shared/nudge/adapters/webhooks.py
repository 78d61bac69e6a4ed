"""Outbound HTTP for detractor tickets (urllib: no extra dependency) and SNS publishing."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from nudge.adapters.aws import client

WEBHOOK_TIMEOUT_S = 5.0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # a redirect is an answer (3xx), not something to follow with the ticket


class UrllibPoster:
    """The WebhookPoster port: POST with a 5 s timeout; redirects are not followed."""

    def __init__(self, timeout_s: float = WEBHOOK_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self._opener = urllib.request.build_opener(_NoRedirect)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310 - URL validated (https, or http on loopback)
        try:
            with self._opener.open(request, timeout=self.timeout_s) as response:
                response.read(65_536)
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)


class SnsTopics:
    """Publishes tickets to SNS (FIFO topics get the survey as group, the prompt as dedupe id)."""

    def __init__(self, sns: Any = None) -> None:
        self._sns = sns

    def publish(self, topic_arn: str, message: str, group: str, dedupe_key: str) -> None:
        sns = self._sns or client("sns")
        kwargs: dict[str, Any] = {
            "TopicArn": topic_arn,
            "Message": message,
            "Subject": "NPS detractor",
        }
        if topic_arn.endswith(".fifo"):
            kwargs |= {"MessageGroupId": group, "MessageDeduplicationId": dedupe_key}
        sns.publish(**kwargs)


def _allowed_url(url: str) -> bool:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    loopback = parts.hostname in ("localhost", "127.0.0.1", "::1")
    return parts.scheme == "https" or (parts.scheme == "http" and loopback)


class OpsAlerts:
    """The Alerts port: an SNS topic and/or a JSON webhook, each optional. A failure of one
    is reported (returned), never raised: the action the alert tells of has happened."""

    def __init__(
        self, topic_arn: str = "", webhook_url: str = "", sns: Any = None, poster: Any = None
    ) -> None:
        self.topic_arn = topic_arn
        self.webhook_url = webhook_url
        self._sns = sns
        self._poster = poster

    def send(self, subject: str, message: dict[str, Any]) -> list[str]:
        import json

        failed: list[str] = []
        body = json.dumps(message, sort_keys=True)
        if self.topic_arn:
            try:
                (self._sns or client("sns")).publish(
                    TopicArn=self.topic_arn, Subject=subject[:99], Message=body
                )
            except Exception as error:
                failed.append(f"sns: {error}"[:300])
        if self.webhook_url:
            if not _allowed_url(self.webhook_url):
                failed.append("webhook: the URL must be https (http only on loopback)")
            else:
                try:
                    poster = self._poster or UrllibPoster()
                    status = poster.post(
                        self.webhook_url, body.encode(), {"content-type": "application/json"}
                    )
                    if not 200 <= status < 300:
                        failed.append(f"webhook: HTTP {status}")
                except Exception as error:
                    failed.append(f"webhook: {error}"[:300])
        return failed
