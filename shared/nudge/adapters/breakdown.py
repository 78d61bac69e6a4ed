"""Campaign response cells in DynamoDB (domain/engagement/breakdown.py).

Layout: the history table (HASH user_id, RANGE sk), which the pipeline already writes, has
a composite key and a TTL: one partition per campaign, one item per day, cell and shard.

    user_id  #cells#<campaign>                       (a system key: never a user id)
    sk       <day number, 6 digits>#<cell key>#<shard>
    fields   s h o c hc x  (sent, holdout, opened, converted, holdout_converted, opt_out)
             and <code>.<segment>;  expires_at: 400 days after the day

A period of one campaign is one Query (`sk BETWEEN`), whatever the number of cells. The
profiles table cannot do that (a hash key only: its counters are read by name), and a new
table would cost a deploy resource for a few hundred items a day. The shard (the user's, as
the profile counters use) spreads a big cell's writes over 8 items. Writes are ADDs in the
profile's own transaction (adapters/dynamodb.py), so a cell counts each fact exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from nudge.adapters.dynamo_table import DynamoTable
from nudge.domain.engagement.breakdown import day_number, parse_name, tally
from nudge.models.keys import SYSTEM_PREFIX

CELLS_TTL = 400 * 86_400


def partition(campaign: str) -> str:
    return f"{SYSTEM_PREFIX}cells#{campaign}"


def cell_updates(
    table: str, shard: int, counters: Mapping[str, Mapping[str, int]]
) -> list[dict[str, Any]]:
    """TransactWriteItems Updates that ADD the cell counters among `counters` (other names
    are left to their own writer)."""
    updates = []
    for name, deltas in sorted(counters.items()):
        parsed = parse_name(name)
        fields = {f: d for f, d in sorted(deltas.items()) if d}
        if parsed is None or not fields:
            continue
        campaign, day, base = parsed
        names = {f"#f{i}": f for i, f in enumerate(fields)}
        values = DynamoTable.to_item({f":d{i}": d for i, d in enumerate(fields.values())})
        values |= DynamoTable.values(exp=day * 86_400 + CELLS_TTL)
        adds = ", ".join(f"#f{i} :d{i}" for i in range(len(fields)))
        key = DynamoTable.key(user_id=partition(campaign), sk=f"{day:06d}#{base}#{shard}")
        updates.append(
            {
                "Update": {
                    "TableName": table,
                    "Key": key,
                    "UpdateExpression": f"ADD {adds} SET expires_at = :exp",
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            }
        )
    return updates


class DynamoBreakdownCounters(DynamoTable):
    """The BreakdownCounters port over the history table (one Query per campaign)."""

    def cells(
        self, campaign_ids: Sequence[str], start_day: str, end_day: str
    ) -> dict[tuple[str, str], Counter[str]]:
        first, last = day_number(start_day), day_number(end_day)
        if last < first:
            return {}
        stored: list[tuple[str, dict[str, int]]] = []
        for campaign in dict.fromkeys(campaign_ids):
            for item in self.items(
                "query",
                KeyConditionExpression="user_id = :p AND sk BETWEEN :a AND :b",
                ExpressionAttributeValues=self.values(
                    p=partition(campaign), a=f"{first:06d}#", b=f"{last:06d}#\uffff"
                ),
            ):
                base = item["sk"]["S"].split("#")[1]
                fields = {
                    name: int(value["N"])
                    for name, value in item.items()
                    if "N" in value and name != "expires_at"
                }
                stored.append((base, fields))
        return tally(stored)
