"""How engagement records are stored in the campaign day counters, and read back as cells.

Storage is one counter item per campaign and UTC day, `campaign#<id>#<day number>` (sharded,
written in the same transaction as the fact it counts: see services/campaigns.py and the
delivery log). Its fields name the kind, the variant and the detail:

    targeted                    suppressed.<reason>     holdout        waiting
    sent.<variant>              converted.<variant>     (converted.holdout: the control group)
    delivered.<variant>         opened.<variant>
    failed.<variant>.<code>     opt_out.<variant>.<kind>

Campaign ids and variant ids contain no dot, so the fields parse back unambiguously.
Opt-outs no message could be blamed for go to the campaign UNATTRIBUTED, those blamed on a
message that was no campaign's to OTHER_MESSAGES; both with the category in the variant's
place: `opt_out.<category>.<kind>`.

Format ("rich" with an image, else "text") and category are properties of the campaign's
variant: they are filled in when reading (`cells_of`), from the published campaign.
`storage_field(record)` and `cells_of` together give exactly `record_increments(record)`
(tests/unit/test_campaign_counters.py), so the stored counters are the domain's counters.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from nudge.clock import day_key
from nudge.domain.engagement.attribution import (
    HOLDOUT,
    NOT_CAMPAIGNS,
    UNKNOWN,
    Cell,
    EngagementRecord,
)

DAY = 86_400
RICH, TEXT = "rich", "text"
VARIANT_KINDS = frozenset({"sent", "converted", "delivered", "opened"})
DETAILED_VARIANT_KINDS = frozenset({"failed", "opt_out"})


def campaign_variant_of(template_id: str, source: str | None) -> tuple[str, str] | None:
    """(campaign, variant) of a campaign's message: its template id is '<campaign>.<variant>'
    and its source 'campaign:<id>'. None: not a campaign's. A source of None (a delivery
    logged before sources were kept) leaves the template id to tell."""
    if source is not None and not source.startswith("campaign:"):
        return None
    campaign, dot, variant = template_id.partition(".")
    return (campaign, variant) if dot and campaign and variant else None


def counter_name(campaign_id: str, at: int) -> str:
    return f"campaign#{campaign_id}#{at // DAY}"


def format_of(image: str | None) -> str:
    return RICH if image else TEXT


def fields_under(counters: Mapping[str, int], prefix: str) -> dict[str, int]:
    """The nonzero fields starting with `prefix`, named by the rest ('failed.' -> the codes)."""
    return {k[len(prefix) :]: v for k, v in counters.items() if k.startswith(prefix) and v}


def field_detail(value: str | None) -> str:
    """A reason or code as one part of a dotted counter field."""
    return (value or UNKNOWN).replace(".", "_")[:64]


def storage_field(record: EngagementRecord) -> tuple[str, str]:
    """(counter name, field) a record adds 1 to."""
    name = counter_name(record.campaign, record.at)
    kind = record.kind
    if kind in ("targeted", "holdout"):
        return name, kind
    if kind == "suppressed":
        return name, f"suppressed.{field_detail(record.reason)}"
    if kind in VARIANT_KINDS:
        return name, f"{kind}.{record.variant or UNKNOWN}"
    middle = record.category if record.campaign in NOT_CAMPAIGNS else record.variant or UNKNOWN
    return name, f"{kind}.{middle}.{field_detail(record.reason)}"


def day_of_counter(name: str) -> tuple[str, str] | None:
    """'campaign#<id>#<day>' -> (campaign id, ISO day); None for any other counter."""
    parts = name.split("#")
    if len(parts) != 3 or parts[0] != "campaign" or not parts[2].isdigit():
        return None
    return parts[1], day_key(int(parts[2]) * DAY)


def cells_of(
    campaign: str,
    day: str,
    fields: Mapping[str, int],
    formats: Mapping[str, str] | None = None,
    category: str = "",
) -> dict[Cell, Counter[str]]:
    """One stored counter item as domain cells (see engagement.record_increments).

    `formats`: variant id -> "rich"/"text" (a variant no longer published has no format);
    `category`: the campaign's. Unknown fields (a newer writer) are left out, never guessed.
    """
    formats = formats or {}
    cells: dict[Cell, Counter[str]] = {}

    def add(variant: str, kind: str, amount: int, detail: str | None = None, cat: str = "") -> None:
        fmt = formats.get(variant, "") if variant and variant != HOLDOUT else ""
        cell = Cell(campaign, variant, fmt, cat or category, day)
        counts = cells.setdefault(cell, Counter())
        counts[kind] += amount
        if detail is not None:
            counts[f"{kind}.{detail}"] += amount

    for field, amount in fields.items():
        if not amount:
            continue
        kind, _, rest = field.partition(".")
        if field in ("targeted", "waiting"):
            add("", field, amount)
        elif field == "holdout":
            add(HOLDOUT, "holdout", amount)
        elif kind == "suppressed" and rest:
            add("", "suppressed", amount, rest)
        elif kind in VARIANT_KINDS and rest:
            add(rest, kind, amount)
        elif kind in DETAILED_VARIANT_KINDS and "." in rest:
            middle, _, detail = rest.partition(".")
            if campaign in NOT_CAMPAIGNS:
                add("", kind, amount, detail, cat=middle)
            else:
                add(middle, kind, amount, detail)
    return cells


def merge(into: dict[Cell, Counter[str]], cells: Mapping[Cell, Counter[str]]) -> None:
    for cell, counts in cells.items():
        into.setdefault(cell, Counter()).update(counts)
