"""SurveysTable: survey state, pending prompts, responses and NPS day counters (DynamoDB).

Items (pk / sk):
  USER#<user> / SURVEY                 the user's latest prompt at any survey (global fatigue)
  USER#<user> / SURVEY#<survey>        SurveyState (pending prompt inside), version `v`
  USER#<user> / NPS#<survey>#<prompt>  the merged ResponseState of one prompt, version `v`;
                                       `survey_id` + `answered_key` feed the sparse
                                       responses-index (time-ordered per survey: themes, CSV)
  NPSAGG#<survey>#<shard> / <day>#<dimension>#<value>
                                       counters s0..s10 (answers per score) for one day cell

A user's items share a partition: one Query reads every survey state at once, and erasing a
user is one Query + deletes. Counters are split over `COUNTER_SHARDS` partitions by prompt
(hash), so concurrent answers to one survey rarely contend for the same item inside their
transactions; a report reads the shards with one Query each over a range of days, and sums.

Writes are conditional: a prompt is created with the state's version condition (and the
user record's last prompt time as read); a response part is merged with the response item's
version condition, and its aggregate delta moves the counters in the same TransactWriteItems,
so the counters always equal a recount of the stored answers.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from nudge.adapters.dynamo_table import DynamoTable, condition_failed, error_code
from nudge.domain.nps.score import SCORES, Cell, Delta, NpsAggregates
from nudge.models.nps_store import StoredResponse, StoredState, UserSurveys
from nudge.models.survey_responses import ResponseState, SurveyState

COUNTER_SHARDS = 4
STATE_TTL_S = 3 * 365 * 86_400  # refreshed by every write; longer than any recontact wait
RESPONSE_TTL_S = 2 * 365 * 86_400
COUNTER_TTL_S = 3 * 365 * 86_400
RESPONSES_INDEX = "responses-index"
# cancellation reasons that mean "changed since read": re-read and decide again
RETRYABLE = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


def counter_shard(prompt_id: str) -> int:
    return int.from_bytes(hashlib.sha256(prompt_id.encode()).digest()[:4], "big") % COUNTER_SHARDS


def user_pk(user_id: str) -> str:
    return f"USER#{user_id}"


def response_sk(survey_id: str, prompt_id: str) -> str:
    return f"NPS#{survey_id}#{prompt_id}"


def answered_key(state: ResponseState) -> str:
    """Orders a survey's responses by time: the score's time, else the first comment's."""
    stamps = [s.at for s in (state.score_set, state.reason_set, state.follow_up_set) if s]
    at = state.score_set.at if state.score_set else min(stamps, default=0)
    return f"{max(at, 0):011d}#{state.prompt_id}"


def group_delta(delta: Delta) -> dict[Cell, dict[int, int]]:
    cells: dict[Cell, dict[int, int]] = defaultdict(dict)
    for (cell, score), change in delta.items():
        if change:
            cells[cell][score] = cells[cell].get(score, 0) + change
    return dict(cells)


class DynamoSurveyStore(DynamoTable):
    """The `SurveyStore` port over SurveysTable."""

    # ---- prompts and survey state ----
    def user_surveys(self, user_id: str) -> UserSurveys:
        states: dict[str, StoredState] = {}
        last: int | None = None
        for item in self._user_items(user_id, "SURVEY", ConsistentRead=True):
            if item["sk"]["S"] == "SURVEY":
                last = int(item["last_prompt_at"]["N"])
                continue
            state = SurveyState.model_validate_json(item["body"]["S"])
            states[state.survey_id] = StoredState(state, int(item["v"]["N"]))
        return UserSurveys(states, last)

    def _user_items(
        self, user_id: str, prefix: str | None = None, **extra: Any
    ) -> Iterator[dict[str, Any]]:
        """The items of the user's partition (those whose sk starts with `prefix`), paged.

        Paged by hand, not with a paginator: the erasure test spies on the client's calls
        (`query`), which a paginator makes out of its sight."""
        condition = "pk = :pk" if prefix is None else "pk = :pk AND begins_with(sk, :prefix)"
        values = self.values(pk=user_pk(user_id), prefix=prefix)
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            **extra,
        }
        while True:
            response = self.ddb.query(**kwargs)
            yield from response.get("Items", [])
            if "LastEvaluatedKey" not in response:
                return
            kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]

    def _state_put(self, state: SurveyState, expected_version: int, now: int) -> dict[str, Any]:
        item = self.to_item(
            {
                "pk": user_pk(state.user_id),
                "sk": f"SURVEY#{state.survey_id}",
                "body": state.model_dump_json(exclude={"last_prompt_any_survey_at"}),
                "v": expected_version + 1,
                "expires_at": now + STATE_TTL_S,
            }
        )
        return self._versioned_put(item, expected_version)

    def _versioned_put(self, item: dict[str, Any], expected_version: int) -> dict[str, Any]:
        put: dict[str, Any] = {"TableName": self.table, "Item": item}
        if expected_version == 0:
            put["ConditionExpression"] = "attribute_not_exists(pk)"
        else:
            put["ConditionExpression"] = "v = :v"
            put["ExpressionAttributeValues"] = self.values(v=expected_version)
        return put

    def create_prompt(
        self, state: SurveyState, expected_version: int, last_prompt_read: int | None, now: int
    ) -> bool:
        """Store the state holding a new pending prompt and move the user's last prompt time,
        both only if unchanged since read (False: re-read and decide again)."""
        update: dict[str, Any] = {
            "TableName": self.table,
            "Key": self.key(pk=user_pk(state.user_id), sk="SURVEY"),
            "UpdateExpression": "SET last_prompt_at = :now, expires_at = :exp",
            "ExpressionAttributeValues": self.values(
                now=now, exp=now + STATE_TTL_S, read=last_prompt_read
            ),
        }
        if last_prompt_read is None:
            update["ConditionExpression"] = "attribute_not_exists(last_prompt_at)"
        else:
            update["ConditionExpression"] = "last_prompt_at = :read"
        return self._transact(
            [{"Put": self._state_put(state, expected_version, now)}, {"Update": update}],
            units=2,
        )

    def save_state(self, state: SurveyState, expected_version: int, now: int) -> bool:
        put = self._state_put(state, expected_version, now)
        return self.put_if(
            put["Item"],
            ConditionExpression=put["ConditionExpression"],
            **(
                {"ExpressionAttributeValues": put["ExpressionAttributeValues"]}
                if "ExpressionAttributeValues" in put
                else {}
            ),
        )

    # ---- responses ----
    def get_response(self, user_id: str, survey_id: str, prompt_id: str) -> StoredResponse | None:
        item = self.ddb.get_item(
            TableName=self.table,
            Key=self.key(pk=user_pk(user_id), sk=response_sk(survey_id, prompt_id)),
            ConsistentRead=True,
        ).get("Item")
        return _response(item) if item else None

    def save_response(
        self,
        response: StoredResponse,
        expected_version: int,
        delta: Delta,
        state: StoredState | None,
        now: int,
    ) -> bool:
        """Write the merged response if its version is still `expected_version`, with the
        counters moved by `delta` and the survey state (if given, version-checked), at once."""
        put = self._response_put(response, expected_version, now)
        operations: list[dict[str, Any]] = [{"Put": put}]
        if state is not None:
            operations.append({"Put": self._state_put(state.state, state.version, now)})
        shard = counter_shard(response.state.prompt_id)
        for cell, changes in sorted(group_delta(delta).items()):
            names = {f"#s{score}": f"s{score}" for score in changes}
            values = self.to_item({f":s{score}": change for score, change in changes.items()})
            values |= self.values(exp=now + COUNTER_TTL_S)
            operations.append(
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": self.key(
                            pk=f"NPSAGG#{cell.survey_id}#{shard}",
                            sk=f"{cell.period}#{cell.dimension}#{cell.value}",
                        ),
                        "UpdateExpression": "SET expires_at = :exp ADD "
                        + ", ".join(f"#s{score} :s{score}" for score in changes),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        if len(operations) == 1:
            return self.put_if(
                put["Item"],
                ConditionExpression=put["ConditionExpression"],
                **(
                    {"ExpressionAttributeValues": put["ExpressionAttributeValues"]}
                    if "ExpressionAttributeValues" in put
                    else {}
                ),
            )
        return self._transact(operations, units=len(operations))

    def _response_put(
        self, response: StoredResponse, expected_version: int, now: int
    ) -> dict[str, Any]:
        state = response.state
        item = self.to_item(
            {
                "pk": user_pk(state.user_id),
                "sk": response_sk(state.survey_id, state.prompt_id),
                "body": state.model_dump_json(exclude_none=True),
                "v": expected_version + 1,
                "survey_id": state.survey_id,
                "answered_key": answered_key(state),
                "routed": response.routed,
                "promoted": response.promoted,
                "expires_at": now + RESPONSE_TTL_S,
                # a string set (sorted), left out when empty: DynamoDB has no empty sets
                "actions": set(response.actions) or None,
            }
        )
        return self._versioned_put(item, expected_version)

    def done_action(self, user_id: str, survey_id: str, prompt_id: str, action: str) -> None:
        """A follow-up was done (queued): take it off the item (the version does not move)."""
        self.ddb.update_item(
            TableName=self.table,
            Key=self.key(pk=user_pk(user_id), sk=response_sk(survey_id, prompt_id)),
            UpdateExpression="DELETE actions :a",
            ExpressionAttributeValues=self.values(a={action}),
        )

    # ---- reports ----
    def day_counts(self, survey_id: str, first_day: str, last_day: str) -> NpsAggregates:
        """Every day cell of the survey from `first_day` to `last_day` (ISO dates), summed
        over the shards: one Query per shard."""
        aggregates = NpsAggregates()
        for shard in range(COUNTER_SHARDS):
            items = self.items(
                "query",
                KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
                ExpressionAttributeValues=self.values(
                    pk=f"NPSAGG#{survey_id}#{shard}", a=first_day, b=f"{last_day}#\uffff"
                ),
            )
            for item in items:
                day, dimension, value = item["sk"]["S"].split("#", 2)
                cell = Cell(survey_id, day, dimension, value)
                counts = aggregates.cells.setdefault(cell, [0] * SCORES)
                for score in range(SCORES):
                    attribute = item.get(f"s{score}")
                    if attribute:
                        counts[score] += int(attribute["N"])
        return aggregates

    def recent_responses(
        self, survey_id: str, limit: int, since: int | None = None, until: int | None = None
    ) -> list[ResponseState]:
        """Up to `limit` responses of the survey, newest first (a Query on the time index)."""
        condition = "survey_id = :s"
        values = self.values(s=survey_id)
        if since is not None or until is not None:
            condition += " AND answered_key BETWEEN :a AND :b"
            values |= self.values(
                a=f"{max(since or 0, 0):011d}",
                b=f"{until if until is not None else 99_999_999_999:011d}#\uffff",
            )
        pages = self.pages(
            "query",
            IndexName=RESPONSES_INDEX,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ScanIndexForward=False,
            # stops after `limit` items (botocore does not shrink the last page: it may read
            # up to PageSize - 1 items more than it returns)
            PaginationConfig={"MaxItems": limit, "PageSize": min(limit, 1000)},
        )
        found = [
            ResponseState.model_validate_json(item["body"]["S"])
            for page in pages
            for item in page.get("Items", [])
        ]
        return found[:limit]

    # ---- privacy ----
    def user_responses(self, user_id: str) -> list[ResponseState]:
        """The user's NPS#<survey>#<prompt> items (one Query of their partition, paged)."""
        items = self._user_items(user_id, "NPS#", ProjectionExpression="body")
        found = [ResponseState.model_validate_json(item["body"]["S"]) for item in items]
        return sorted(found, key=answered_key)

    def delete_user(self, user_id: str) -> int:
        """Erasure: every item in the user's partition (USER#<user>: the last-prompt record,
        survey states with pending prompts, merged responses with comments), found by a keys-
        only Query, deleted in batches of 25. No scan. The NPSAGG counters stay: they are
        anonymous per-survey counts, with no user in key or value (reports still count an
        erased user's past answers, they can no longer be traced back to anyone)."""
        keys = list(self._user_items(user_id, ProjectionExpression="pk, sk"))
        self.batch_write([{"DeleteRequest": {"Key": key}} for key in keys])
        return len(keys)

    def _transact(self, operations: list[dict[str, Any]], units: int) -> bool:
        try:
            self.ddb.transact_write_items(TransactItems=operations)
        except Exception as error:
            if condition_failed(error) or _cancelled_retryably(error):
                return False
            raise
        self.meter.add(2 * units)
        return True


def _cancelled_retryably(error: Exception) -> bool:
    if error_code(error) == "TransactionConflictException":
        return True
    if error_code(error) != "TransactionCanceledException":
        return False
    reasons = getattr(error, "response", {}).get("CancellationReasons") or []
    codes = {reason.get("Code") for reason in reasons} - {"None", None}
    if not codes:  # no reasons given: the message names them
        message = json.dumps(getattr(error, "response", {}).get("Error", {}))
        return any(code in message for code in RETRYABLE)
    return codes <= RETRYABLE


def _response(item: dict[str, Any]) -> StoredResponse:
    return StoredResponse(
        state=ResponseState.model_validate_json(item["body"]["S"]),
        version=int(item["v"]["N"]),
        actions=frozenset(item.get("actions", {}).get("SS", [])),
        routed=bool(item.get("routed", {}).get("BOOL", False)),
        promoted=bool(item.get("promoted", {}).get("BOOL", False)),
    )
