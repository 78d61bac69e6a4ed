"""Opens and opt-outs as they reach the event processor, turned into engagement records.

Pure. The messages the user received are those the delivery log shows delivered (campaign
sends, broadcasts, transactional and API messages), or without it the profile's recent
campaign sends (messaging.sends, kept 7 days). The records go into the campaign counters in
the same conditional write as the profile (services/campaigns.py), so each is counted
exactly once:

- `push_opened` naming a campaign send's job id (property `message_id`): `opened` once per
  message; the send is marked opened in the profile, so a second open event (another event
  id, another device) counts nothing.
- `push_opt_out` (properties `kind`: category | permission | uninstall, `category` for a
  category, optionally `message_id`: the send whose failure revealed an uninstall, which was
  not received) is blamed with `attribute_opt_out` on the last message in the window (one
  that was no campaign's pools under OTHER_MESSAGES); its event id makes the record id, and
  the processor applies an event id once. One opt-out per user per message counts: the
  profile remembers the messages already blamed (`messaging.opt_outs`, in the same write as
  the counters), so more opt-out events with fresh ids blamed on the same message count
  nothing, in any order. Unattributed ones count once per kind and category (a category the
  app invents counts as "other", so invented names cannot multiply them).

Opt-out time is the event's, but never later than the server's now (clock skew). The record
is counted on the server's day of processing, like every campaign counter.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from nudge.domain.config import AnalyticsConfig
from nudge.domain.engagement.attribution import (
    HOLDOUT,
    OPT_OUT_KINDS,
    OTHER_MESSAGES,
    UNATTRIBUTED,
    Attribution,
    EngagementRecord,
    OptOut,
    ReceivedMessage,
    attribute_opt_out,
)
from nudge.domain.engagement.counters import campaign_variant_of
from nudge.domain.profiles.aggregates import DAY, OPT_OUT_EVENT
from nudge.models.events import IncomingEvent
from nudge.models.profile import Profile, SendRecord
from nudge.models.push import Delivery

OPENED_EVENT = "push_opened"
MESSAGE_CATEGORIES = frozenset({"transactional", "marketing", "product_updates", "internal"})
# Blamed messages remembered per profile: bounded whatever the app sends (the newest kept).
MAX_OPT_OUT_MARKS = 64
# How long a message may still be blamed when no memory is given: the window is added to it.
DEFAULT_OPT_OUT_MEMORY = 45 * DAY


@dataclass(frozen=True)
class Ignored:
    event_id: str
    why: str


def _epoch(event: IncomingEvent) -> int:
    return int(event.timestamp.timestamp())


def parse_opt_out(event: IncomingEvent, now: int) -> OptOut | Ignored:
    """The event as an OptOut, or why it cannot be one (never raises)."""
    kind = event.properties.get("kind")
    if kind not in OPT_OUT_KINDS:
        return Ignored(event.event_id, f"kind must be one of {sorted(OPT_OUT_KINDS)}")
    category = event.properties.get("category") if kind == "category" else None
    if kind == "category" and (not isinstance(category, str) or not category):
        return Ignored(event.event_id, "a category opt-out names its category")
    at = min(_epoch(event), now)
    return OptOut(event.event_id, kind, at, category if isinstance(category, str) else None)


def received_from_log(deliveries: Iterable[Delivery]) -> list[ReceivedMessage]:
    """The messages the delivery log shows delivered to at least one device, each once (at
    its first delivery). A campaign's job names '<campaign>.<variant>' as its template; any
    other message is blamed as OTHER_MESSAGES (pooled by category, like the unattributed)."""
    first: dict[str, Delivery] = {}
    for delivery in deliveries:
        if delivery.outcome != "sent":
            continue
        seen = first.get(delivery.job_id)
        if seen is None or delivery.at < seen.at:
            first[delivery.job_id] = delivery
    received = []
    for job_id, delivery in first.items():
        campaign, variant = campaign_variant_of(delivery.template_id, delivery.source) or (
            OTHER_MESSAGES,
            "",
        )
        received.append(
            ReceivedMessage(
                job_id, campaign, variant, "", delivery.category, delivery.at, delivery.source
            )
        )
    return received


def _received_from_sends(sends: Sequence[SendRecord]) -> list[ReceivedMessage]:
    return [
        ReceivedMessage(
            send.job or f"{send.campaign}@{send.at}",
            send.campaign,
            send.variant,
            "",
            send.category,
            send.at,
        )
        for send in sends
        if send.job is not None or send.variant != HOLDOUT  # a holdout's was never received
    ]


def _cell_of(sends: Sequence[SendRecord], job_id: str) -> str:
    return next((send.cell for send in sends if send.job == job_id), "")


def blame_key(attribution: Attribution) -> tuple[str, int]:
    """What one user's opt-outs are counted once per, and since when: the message blamed
    (its time), or for an unattributed one its kind and category (the opt-out's time)."""
    opt_out, message = attribution.opt_out, attribution.message
    if message is not None:
        return message.message_id[:128], message.at
    category = opt_out.category or ""
    if category and category not in MESSAGE_CATEGORIES and category != "location":
        category = "other"
    return f"{UNATTRIBUTED}|{opt_out.kind}|{category}", opt_out.at


def remember_blame(marks: dict[str, int], key: str, at: int, now: int, memory: int) -> bool:
    """Note `key` as counted (False: it was already); forget marks older than `memory`."""
    if key in marks:
        return False
    kept = sorted(
        ((k, when) for k, when in marks.items() if now - when <= memory),
        key=lambda item: (-item[1], item[0]),
    )
    marks.clear()
    marks.update(kept[: MAX_OPT_OUT_MARKS - 1])
    marks[key] = at
    return True


def engagement_records(
    profile: Profile,
    events: Iterable[IncomingEvent],
    now: int,
    config: AnalyticsConfig,
    delivered: Sequence[Delivery] | None = None,
    memory_seconds: int = DEFAULT_OPT_OUT_MEMORY,
) -> tuple[list[EngagementRecord], list[Ignored]]:
    """Records for the opens and opt-outs among `events`; marks opened sends and messages
    blamed for an opt-out in `profile`. `delivered`: the user's delivery log (None: blame
    the profile's campaign sends). `memory_seconds`: how long after the window an opt-out
    event may still arrive (the oldest event ingest accepts, plus queueing)."""
    records: list[EngagementRecord] = []
    ignored: list[Ignored] = []
    sends = profile.messaging.sends
    messages: list[ReceivedMessage] | None = None  # built at the first opt-out
    for event in sorted(events, key=lambda e: (_epoch(e), e.event_id)):
        message_id = event.properties.get("message_id")
        if event.name == OPENED_EVENT:
            if not isinstance(message_id, str) or not message_id:
                continue
            for i, send in enumerate(sends):
                if send.job == message_id and not send.opened:
                    sends[i] = send.model_copy(update={"opened": True})
                    records.append(
                        EngagementRecord(
                            f"opened:{send.job}",
                            "opened",
                            now,
                            send.campaign,
                            send.variant,
                            category=send.category,
                            cell=send.cell,
                        )
                    )
        elif event.name == OPT_OUT_EVENT:
            opt_out = parse_opt_out(event, now)
            if isinstance(opt_out, Ignored):
                ignored.append(opt_out)
                continue
            if messages is None:
                messages = (
                    received_from_log(delivered)
                    if delivered is not None
                    else _received_from_sends(sends)
                )
            # an uninstall names the send that revealed it: that one never arrived
            received = [m for m in messages if m.message_id != message_id]
            attribution = attribute_opt_out(
                opt_out, received, config.attribution_window_seconds, config.match_opt_out_category
            )
            key, blamed_at = blame_key(attribution)
            memory = config.attribution_window_seconds + memory_seconds
            if not remember_blame(profile.messaging.opt_outs, key, blamed_at, now, memory):
                continue  # this user's opt-out for that message is counted already
            record = attribution.record()
            blamed = attribution.message
            records.append(
                EngagementRecord(
                    record.id,
                    "opt_out",
                    now,
                    record.campaign,
                    record.variant,
                    category=record.category,
                    reason=record.reason,
                    source=record.source,
                    # the blamed send's cell, as its open would count (none: not a campaign's)
                    cell=_cell_of(sends, blamed.message_id) if blamed else "",
                )
            )
    return records, ignored
