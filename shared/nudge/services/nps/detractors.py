"""detractor_router: deliver each detractor's answer to the survey's webhook and/or SNS topic.

A job names the answer (user, survey, prompt) and where it goes. The ticket is built from the
response as stored now, so comments that arrived after the score (a second part) travel with
it whenever they are in by the time of delivery. A webhook answering anything but 2xx, a
timeout or a connection error raises: the record returns to the queue (visibility timeout),
is retried, and after maxReceiveCount lands in the DetractorsDLQ - never dropped. The
payload carries `idempotency_key` (= prompt_id) and the `X-Nudge-Idempotency-Key` header:
a job can be delivered more than once, receivers dedupe on it.
`X-Nudge-Signature: sha256=HMAC(secret, "<X-Nudge-Timestamp>." + body)` lets them check it:
in AWS a ticket is never sent unsigned (no secret: the job fails, WebhookRefused, and waits
in the queue / DLQ until the DetractorWebhookSecretArn parameter is set). A destination the
poster refuses (not https, or a host resolving to a loopback, private or link-local address:
see nudge.models.webhook_targets) fails the same way, named in the log; never sent there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from aws_lambda_powertools import Logger

from nudge.models.nps_store import DetractorJob
from nudge.models.survey_responses import ResponseState
from nudge.models.webhook_targets import RefusedTarget

if TYPE_CHECKING:
    from nudge.clock import Clock
    from nudge.services.ports import SurveyStore, WebhookPoster

logger = Logger(child=True)


class DeliveryFailed(RuntimeError):
    """The destination did not take the ticket: retried through the queue."""


class WebhookRefused(DeliveryFailed):
    """The ticket may not be sent to that webhook (unsafe destination, or no signing secret):
    nothing was sent; it stays in the queue, then the DLQ, until the config is fixed."""


UNSIGNED_TICKET = (
    "webhook tickets must be signed: set the DetractorWebhookSecretArn parameter "
    "(NUDGE_DETRACTOR_SECRET_ARN) to a Secrets Manager secret"
)


class TopicPublisher(Protocol):
    def publish(self, topic_arn: str, message: str, group: str, dedupe_key: str) -> None: ...


def _iso(at: int | None) -> str | None:
    return datetime.fromtimestamp(at, UTC).isoformat().replace("+00:00", "Z") if at else None


def ticket(state: ResponseState, job: DetractorJob) -> dict[str, Any]:
    """What a follow-up tool needs to open a ticket for one detractor."""
    return {
        "type": "nps.detractor",
        "idempotency_key": job.prompt_id,
        "survey_id": state.survey_id,
        "prompt_id": state.prompt_id,
        "user_id": state.user_id,
        "score": state.score,
        "category": state.category.value if state.category else None,
        "reason": state.reason,
        "follow_up": state.follow_up,
        "lifecycle_stage": state.stage.value if state.stage else None,
        "platform": state.platform,
        "app_version": state.app_version,
        "country": state.country,
        "locale": state.locale,
        "answered_at": _iso(state.answered_at),
    }


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass
class DetractorRouter:
    store: SurveyStore
    poster: WebhookPoster
    clock: Clock
    secret: Callable[[], str] | None = None
    topics: TopicPublisher | None = None
    allow_unsigned: bool = False  # the local stack only: its receiver checks no signature

    def deliver(self, body: str) -> str:
        """Deliver one job: "delivered", or "gone" (the answer was erased meanwhile)."""
        job = DetractorJob.model_validate_json(body)
        stored = self.store.get_response(job.user_id, job.survey_id, job.prompt_id)
        if stored is None:
            logger.info("detractor answer gone (erased)", prompt_id=job.prompt_id)
            return "gone"
        payload = json.dumps(ticket(stored.state, job), sort_keys=True).encode()
        if job.webhook:
            timestamp = str(int(self.clock.now().timestamp()))
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "nudge-detractor-router/1",
                "X-Nudge-Idempotency-Key": job.prompt_id,
                "X-Nudge-Timestamp": timestamp,
            }
            secret = self.secret() if self.secret else ""
            if secret:
                headers["X-Nudge-Signature"] = signature(secret, timestamp, payload)
            elif not self.allow_unsigned:
                raise WebhookRefused(UNSIGNED_TICKET)
            try:
                status = self.poster.post(job.webhook, payload, headers)
            except RefusedTarget as error:
                raise WebhookRefused(f"webhook refused: {error}") from error
            except OSError as error:  # timeouts and connection errors
                raise DeliveryFailed(f"webhook unreachable: {error}") from error
            if not 200 <= status < 300:
                raise DeliveryFailed(f"webhook answered HTTP {status}")
        if job.sns_topic_arn:
            if self.topics is None:
                raise DeliveryFailed("no SNS publisher configured")
            self.topics.publish(job.sns_topic_arn, payload.decode(), job.survey_id, job.prompt_id)
        return "delivered"
