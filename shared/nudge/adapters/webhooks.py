"""Outbound HTTP for detractor tickets (http.client: no extra dependency) and SNS publishing."""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

from nudge.adapters.aws import client
from nudge.models.webhook_targets import check_addresses, check_url, local_targets_allowed

WEBHOOK_TIMEOUT_S = 5.0
MAX_ANSWER_BYTES = 65_536


def _connect_to_one(addresses: list[str], port: int, timeout: float | None) -> socket.socket:
    """A connection to the first checked address that answers (as create_connection does)."""
    error: OSError = OSError("no address")
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as failed:
            error = failed
    raise error


class _CheckedHTTPConnection(http.client.HTTPConnection):
    """Connects to the addresses checked for the host, never resolving the name again."""

    def __init__(self, host: str, port: int, addresses: list[str], timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self.addresses = addresses

    def connect(self) -> None:
        self.sock = _connect_to_one(self.addresses, self.port, self.timeout)


class _CheckedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to a checked address; the certificate is verified for the host name (SNI too)."""

    def __init__(
        self, host: str, port: int, addresses: list[str], timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self.addresses = addresses
        self.tls = context

    def connect(self) -> None:
        sock = _connect_to_one(self.addresses, self.port, self.timeout)
        self.sock = self.tls.wrap_socket(sock, server_hostname=self.host)


class CheckedWebhookPoster:
    """The WebhookPoster port: POST with a 5 s timeout to a checked destination.

    Before each call the URL is checked, the host name resolved (getaddrinfo) and every
    address it resolves to checked (nudge.models.webhook_targets); the connection then goes to
    one of those addresses, so a second lookup cannot send it elsewhere (DNS rebinding). A
    refused destination raises RefusedTarget. Redirects are answers (3xx), never followed.
    `allow_local`: loopback allowed (default: outside a Lambda only)."""

    def __init__(
        self, timeout_s: float = WEBHOOK_TIMEOUT_S, allow_local: bool | None = None
    ) -> None:
        self.timeout_s = timeout_s
        self.allow_local = local_targets_allowed() if allow_local is None else allow_local
        self._tls = ssl.create_default_context()

    def resolve(self, host: str, port: int) -> list[str]:
        """Every address the name resolves to now (OSError when it does not resolve)."""
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in answers))

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        check_url(url, self.allow_local)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        addresses = check_addresses(host, self.resolve(host, port), self.allow_local)
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = _CheckedHTTPSConnection(host, port, addresses, self.timeout_s, self._tls)
        else:  # http: check_url allows it for loopback in the local stack only
            connection = _CheckedHTTPConnection(host, port, addresses, self.timeout_s)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request("POST", target, body=body, headers=headers)
            response = connection.getresponse()
            response.read(MAX_ANSWER_BYTES)
            return int(response.status)
        except http.client.HTTPException as error:  # a garbled answer: unreachable, retried
            raise ConnectionError(f"bad HTTP answer: {error!r}") from error
        finally:
            connection.close()


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
                    poster = self._poster or CheckedWebhookPoster()
                    status = poster.post(
                        self.webhook_url, body.encode(), {"content-type": "application/json"}
                    )
                    if not 200 <= status < 300:
                        failed.append(f"webhook: HTTP {status}")
                except Exception as error:
                    failed.append(f"webhook: {error}"[:300])
        return failed
