"""`why`: a user's messaging decisions, newest first ("why didn't Ann get X?").

Two sources, merged: the campaign decision record (history table, written by the event
processor and the scheduler when an outcome changes; domain/engagement/decision_record.py),
and the delivery log push_sender writes for every job it handles (campaign sends, broadcasts
and API messages: sent, failed, or suppressed with its reason). A broadcast's audience filter
(users outside its segment, or without a device) is not recorded per user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nudge.domain.engagement.decision_record import NOT_RECORDED, DecisionRecord, in_words
from nudge.models.push import Delivery
from nudge.services.ports import DeliveryLog, HistoryStore

MESSAGE_SOURCES = {"admin", "api"}  # one message to one user (admin API, `nudge send`)


def _campaign_entry(record: DecisionRecord) -> dict[str, Any]:
    return {
        "at": record.at,
        "kind": "campaign",
        "id": record.campaign,
        "stage": "decided",
        "action": record.action,
        "reason": record.reason,
        "detail": record.detail,
        "variant": record.variant,
        "occurrence": record.occurrence or None,
        "job_id": None,
        "device_id": None,
        "explanation": in_words(record.action, record.reason, record.detail),
    }


def _source(source: str | None) -> tuple[str, str | None, str | None]:
    """(kind, id, variant) of a delivery log source: campaign:<id>:<variant>, broadcast:<id>,
    admin or api (None: logged before sources were)."""
    kind, _, rest = (source or "").partition(":")
    if kind == "campaign":
        campaign, _, variant = rest.partition(":")
        return "campaign", campaign, variant or None
    if kind == "broadcast":
        return "broadcast", rest, None
    return "message", kind or None, None


def _delivery_entry(delivery: Delivery) -> dict[str, Any]:
    kind, subject, variant = _source(delivery.source)
    detail = f"template {delivery.template_id}, category {delivery.category}"
    return {
        "at": delivery.at,
        "kind": kind,
        "id": subject,
        "stage": "delivery",
        "action": delivery.outcome,
        "reason": delivery.reason,
        "detail": detail,
        "variant": variant,
        "occurrence": None,
        "job_id": delivery.job_id,
        "device_id": delivery.device_id,
        "explanation": in_words(delivery.outcome, delivery.reason, detail),
    }


@dataclass
class DecisionTrail:
    history: HistoryStore
    deliveries: DeliveryLog | None = None

    def why(self, user_id: str, campaign: str | None = None) -> dict[str, Any]:
        """Every recorded decision about the user, newest first; `campaign`: that one only
        (its decisions and its sends' deliveries, or a broadcast's by its id)."""
        entries = [_campaign_entry(r) for r in self.history.decisions(user_id)]
        if self.deliveries is not None:
            entries += [_delivery_entry(d) for d in self.deliveries.for_user(user_id)]
        if campaign is not None:
            entries = [e for e in entries if e["id"] == campaign]
        # newest first; at one moment the decision before its delivery
        entries.sort(key=lambda e: (-e["at"], e["stage"] != "delivery", e["id"] or ""))
        return {
            "user_id": user_id,
            "campaign": campaign,
            "decisions": entries,
            "not_recorded": NOT_RECORDED,
        }
