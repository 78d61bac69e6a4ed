"""The per-user decision record: "why didn't Ann get X?".

Campaign decisions repeat (the same user is "not in the audience" at every event), so one is
recorded only when its outcome for that campaign changes, or when a day has passed since that
outcome was last recorded. What was last recorded per campaign is remembered in the profile
(`messaging.decided`: campaign -> (outcome, at)), which is written anyway; entries older than
a day decide nothing any more and are dropped. The records themselves go to the history table
as items of their own, with their own expiry (EngagementConfig.decision_record_days).

Broadcast and API-message decisions are not recorded here: push_sender already writes each
one per user in the delivery log, and `why` reads them from there.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from nudge.clock import DAY

RECORD_AGAIN_AFTER = DAY  # an unchanged outcome is written again once a day, not per event
NOT_RECORDED = "not recorded: outside the audience or without a device"  # broadcasts' filter

# What blocked a message, in words: campaign rules (domain/campaigns/decide.py) and
# push_sender's reasons (domain/messaging/push.py, FCM error codes). Unknown reasons are shown
# as they are.
REASON_WORDS = {
    "inactive": "the campaign was not active",
    "expired": "the message was stale before it could go out",
    "audience": "the user was not in the campaign's audience",
    "consent": "the user has not consented to this category",
    "max_per_user": "the campaign had already been sent to the user as often as allowed",
    "cooldown": "the campaign was sent to the user too recently (cooldown)",
    "global_cap": "the user's cap for this category was reached",
    "outranked": "a higher-priority campaign took the last slot of the cap",
    "send_window": "outside the campaign's send window: waiting for it to open",
    "holdout": "the user is in the control group (holdout): not sent on purpose",
    "unless": "an `unless` event after the trigger cancelled the delayed send",
    "quiet_hours": "the user's quiet hours",
    "unknown_timezone": "the user's time zone is unknown, so local-time rules cannot be met",
    "no_device": "the user has no registered device",
    "push_disabled": "push is turned off on every device of the user",
    "lease_expired": "the send attempt was interrupted; its outcome is unknown",
    "template": "the message could not be rendered",
    "UNREGISTERED": "FCM: the app was uninstalled (the token is gone)",
}


class DecisionLike(Protocol):
    """What a campaign decision (domain/campaigns/decide.py: Decision) offers."""

    campaign_id: str
    occurrence: str
    action: str
    reason: str | None
    variant: str | None

    @property
    def outcome(self) -> str: ...

    @property
    def rules(self) -> Sequence[Any]: ...


@dataclass(slots=True)  # not frozen: one is made for most decisions, and frozen inits are slow
class DecisionRecord:
    at: int
    campaign: str
    occurrence: str
    action: str  # send | holdout | wait | suppress
    reason: str | None = None  # the rule that blocked it
    detail: str = ""  # that rule's detail ("3 of 3", "last sent 20 min ago; 40 min left")
    variant: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, data: dict[str, Any]) -> DecisionRecord:
        # stored records leave empty fields out (adapters/decisions.pack_body): an "unless"
        # suppression has no occurrence, and must read back as one with an empty one
        present = {name: data[name] for name in cls.__slots__ if name in data}
        return cls(**{"campaign": "", "occurrence": "", **present})


def detail_of(decision: DecisionLike) -> str:
    """The detail of the rule that decided it: the failing one, else the last one noted."""
    rules = decision.rules
    for rule in reversed(rules):
        if not rule.passed:
            return str(rule.detail)
    return str(rules[-1].detail) if rules else ""


def note_decisions(
    decided: dict[str, tuple[str, int]], decisions: Iterable[DecisionLike], now: int
) -> list[DecisionRecord]:
    """The records to write for these decisions; `decided` (the profile's memory) is updated.

    A trigger occurrence decided before ("duplicate") is not a decision of its own."""
    records = []
    for decision in decisions:
        if decision.reason == "duplicate":
            continue
        last = decided.get(decision.campaign_id)
        if last is not None and last[0] == decision.outcome and now - last[1] < RECORD_AGAIN_AFTER:
            continue
        decided[decision.campaign_id] = (decision.outcome, now)
        records.append(
            DecisionRecord(
                at=now,
                campaign=decision.campaign_id,
                occurrence=decision.occurrence,
                action=decision.action,
                reason=decision.reason,
                detail=detail_of(decision)[:300],
                variant=decision.variant,
            )
        )
    return records


def forget_stale(decided: dict[str, tuple[str, int]], now: int) -> dict[str, tuple[str, int]]:
    """The memory without entries that no longer hold anything back (the same object when
    nothing goes: this runs for every event)."""
    if not decided or all(now - at < RECORD_AGAIN_AFTER for _, at in decided.values()):
        return decided
    return {c: (o, at) for c, (o, at) in decided.items() if now - at < RECORD_AGAIN_AFTER}


def records_made_at(decided: dict[str, tuple[str, int]], moments: set[int]) -> list[DecisionRecord]:
    """The records a pass at one of `moments` wrote, rebuilt from the memory when the events
    behind it come back after a crash before its history write (the details are not kept)."""
    return [
        DecisionRecord(
            at=at,
            campaign=campaign,
            occurrence="",
            action=outcome.partition(":")[0],
            reason=outcome.partition(":")[2] or None,
            detail="(recorded again after a retry: detail not kept)",
        )
        for campaign, (outcome, at) in sorted(decided.items())
        if at in moments
    ]


def in_words(action: str, reason: str | None, detail: str = "") -> str:
    """One line a marketer can read: what happened, the rule that blocked it and its detail."""
    if reason is None:
        return action if not detail else f"{action}: {detail}"
    words = REASON_WORDS.get(reason, reason)
    return f"{action} ({reason}): {words}" + (f" — {detail}" if detail else "")
