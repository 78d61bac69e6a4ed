"""The fatigue budget's records: one interruption of a user, and what booking one answered.

Value types only (the rules are in `nudge.domain.messaging.fatigue`): every capability that
interrupts a user (campaigns, broadcasts, API messages, survey prompts) books through the
`FatigueLedger` port with these, whatever it may import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, NamedTuple


@dataclass(frozen=True, slots=True)
class Interruption:
    """One message or prompt that reached (or is about to reach) the user."""

    key: str  # a push job's dedupe key or a survey prompt's id: booked once, however retried
    at: int
    category: str
    source: str  # campaign:<id>:<variant>, broadcast:<id>, admin, api, survey:<id>
    job: str | None = None  # the push job id: a campaign's send record in the profile names it


class Booking(NamedTuple):
    """booked; refused (`detail` says which cap); already_booked (a retry: not counted again)."""

    status: Literal["booked", "refused", "already_booked"]
    detail: str | None = None
