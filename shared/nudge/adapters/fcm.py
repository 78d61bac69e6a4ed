"""FCM through firebase-admin (only push_sender imports this module).

`send_each_async` over HTTP/2: many requests multiplexed on a few connections, as FCM expects.
The handler is synchronous, so the coroutine runs on an event loop kept for the life of the
sender (the warm Lambda environment): the connections it opened stay usable for the next
invocation, which a fresh `asyncio.run` per call would throw away.

The SDK's own retries are cut: a 429 or 503 is handed back to SQS (visibility timeout, with
FCM's Retry-After) instead of sleeping in Lambda; only a failed connect is retried, once and
at once (nothing was sent).
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_PER_CALL = 500  # send_each_async's limit per call
# Concurrency. FCM (like Google's front ends generally) allows 100 concurrent streams per
# HTTP/2 connection, and httpx puts every request for one origin on a single HTTP/2 connection
# (queueing for a free stream there, never opening a second one), so the sender keeps
# CONNECTIONS pools of one connection each and hands each request to the least busy. Sends go
# in calls of STREAMS_PER_CONNECTION messages, CONNECTIONS calls at a time: at most
# CONNECTIONS x 100 requests in flight, the streams open to us, so nothing queues in httpx's
# pool (whose bookkeeping grows with the square of its queue) and FCM sees a bounded load from
# each Lambda environment. 4 connections (limit: 20) give 400 streams, ~8,000 msg/s at FCM's
# ~50 ms per send: beyond what one Python process can encode and frame (~1-3 ms of CPU per
# message in firebase-admin, httpx and h2), while more streams in flight only cost more CPU.
CONNECTIONS = 4
STREAMS_PER_CONNECTION = 100
CALL_SIZE = min(MAX_PER_CALL, STREAMS_PER_CONNECTION)


@dataclass(frozen=True)
class SendResult:
    ok: bool
    message_id: str | None = None
    error_code: str | None = None
    retry_after_s: float | None = None


class FirebaseSender:
    def __init__(self, credentials: Callable[[], str], project_id: str, endpoint: str = "") -> None:
        self._credentials = credentials  # read on the first send, not at cold start
        self._project_id = project_id
        self._endpoint = endpoint
        self._app: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _messaging(self) -> Any:
        import firebase_admin
        from firebase_admin import credentials, messaging

        if self._app is None:
            if self._endpoint:  # local emulator only: the SDK has no setting for this
                messaging._MessagingService.FCM_URL = (
                    self._endpoint.rstrip("/") + "/v1/projects/{0}/messages:send"
                )
            info = json.loads(self._credentials())
            self._app = firebase_admin.initialize_app(
                credentials.Certificate(info),
                options={"projectId": self._project_id, "httpTimeout": 10},
                name=f"nudge-{os.getpid()}",
            )
            _bound_retries(messaging, self._app)
        return messaging

    def send(self, messages: Sequence[dict[str, Any]]) -> list[SendResult]:
        messaging = self._messaging()
        if not messages:
            return []
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.new_event_loop()  # kept: its connections serve the next call
        return self._loop.run_until_complete(self._send(messaging, messages))

    async def _send(self, messaging: Any, messages: Sequence[dict[str, Any]]) -> list[SendResult]:
        calls = asyncio.Semaphore(CONNECTIONS)

        async def call(start: int) -> list[SendResult]:
            chunk = [_to_message(messaging, m) for m in messages[start : start + CALL_SIZE]]
            async with calls:
                batch = await messaging.send_each_async(chunk, app=self._app)
            return [_result(r) for r in batch.responses]

        chunks = await asyncio.gather(*(call(s) for s in range(0, len(messages), CALL_SIZE)))
        return [result for chunk in chunks for result in chunk]

    def close(self) -> None:
        """Close the connections and the loop (tests and benchmarks; Lambda never needs it)."""
        if self._app is not None:
            import firebase_admin
            from firebase_admin import messaging

            client = messaging._get_messaging_service(self._app)._async_client._async_client
            if self._loop is not None and not self._loop.is_closed():
                self._loop.run_until_complete(client.aclose())
            firebase_admin.delete_app(self._app)
            self._app = None
        if self._loop is not None and not self._loop.is_closed():
            self._loop.close()
        self._loop = None


def _bound_retries(messaging: Any, app: Any) -> None:
    """Replace the SDK's async transport: by default it retries 500 and 503 four times with
    0-4 s sleeps (7 s in all) on a single HTTP/2 connection. Ours never retries a status (SQS
    does, honouring Retry-After), retries a failed connect once (nothing was sent), and
    spreads requests over CONNECTIONS connections."""
    import httpx

    from nudge.adapters.fcm_transport import CachedCredentialAuth, LeastBusy

    service = messaging._get_messaging_service(app)
    wrapper = service._async_client  # the SDK's HttpxAsyncClient: keeps its error handling
    wrapper._async_client = httpx.AsyncClient(
        http2=True,
        timeout=wrapper.timeout,
        headers=wrapper.async_client.headers,  # the SDK's (its metrics header)
        auth=CachedCredentialAuth(service._credential),
        transport=LeastBusy(CONNECTIONS),
    )


def _to_message(messaging: Any, m: dict[str, Any]) -> Any:
    notification = m["notification"]
    android = m.get("android", {})
    apns = m.get("apns", {})
    aps = apns.get("payload", {}).get("aps", {})
    return messaging.Message(
        token=m["token"],
        data=m.get("data"),
        notification=messaging.Notification(
            title=notification["title"], body=notification["body"], image=notification.get("image")
        ),
        android=messaging.AndroidConfig(
            priority=android.get("priority", "HIGH").lower(),
            ttl=int(android.get("ttl", "86400s").rstrip("s")),
            collapse_key=android.get("collapse_key"),
            notification=messaging.AndroidNotification(
                channel_id=android.get("notification", {}).get("channel_id")
            ),
        ),
        apns=messaging.APNSConfig(
            headers=apns.get("headers"),
            payload=messaging.APNSPayload(
                aps=messaging.Aps(
                    sound=aps.get("sound"),
                    badge=aps.get("badge"),
                    thread_id=aps.get("thread-id"),
                    custom_data={"interruption-level": aps.get("interruption-level", "active")},
                )
            ),
        ),
    )


_CODES = {
    "UnregisteredError": "UNREGISTERED",
    "InvalidArgumentError": "INVALID_ARGUMENT",
    "SenderIdMismatchError": "SENDER_ID_MISMATCH",
    "QuotaExceededError": "QUOTA_EXCEEDED",
    "UnavailableError": "UNAVAILABLE",
    "InternalError": "INTERNAL",
    "ThirdPartyAuthError": "THIRD_PARTY_AUTH_ERROR",
}


def _result(response: Any) -> SendResult:
    if response.success:
        return SendResult(True, response.message_id)
    error = response.exception
    code = _CODES.get(type(error).__name__, getattr(error, "code", None) or "UNKNOWN")
    retry_after = None
    http = getattr(error, "http_response", None)
    if http is not None:
        header = http.headers.get("Retry-After")
        try:
            retry_after = float(header) if header else None
        except ValueError:
            retry_after = None
    return SendResult(False, None, str(code), retry_after)
