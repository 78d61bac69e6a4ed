"""FCM through firebase-admin (only push_sender imports this module).

`send_each` with a bounded worker pool; the SDK's own retries are cut to one quick attempt so
that a 429 or 503 is handed back to SQS (visibility timeout) instead of sleeping in Lambda.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

MAX_PER_CALL = 500  # FCM's send_each limit


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
        results: list[SendResult] = []
        for start in range(0, len(messages), MAX_PER_CALL):
            chunk = [_to_message(messaging, m) for m in messages[start : start + MAX_PER_CALL]]
            batch = messaging.send_each(chunk, app=self._app)
            results.extend(_result(r) for r in batch.responses)
        return results


def _bound_retries(messaging: Any, app: Any) -> None:
    import requests
    from urllib3.util.retry import Retry

    service = messaging._get_messaging_service(app)
    retry = Retry(
        connect=1,
        read=1,
        status=0,
        backoff_factor=0.1,
        respect_retry_after_header=False,
        raise_on_status=False,
        allowed_methods=None,
    )
    service._client.session.mount(
        "https://", requests.adapters.HTTPAdapter(pool_maxsize=50, max_retries=retry)
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
