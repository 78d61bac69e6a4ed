"""In-memory fakes of the ports, with the same semantics (conditional writes, TTL-free)."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from nudge.adapters import history_items
from nudge.adapters.decisions import pack_body, pack_key, packs
from nudge.adapters.dynamo_codec import due_bucket
from nudge.domain.engagement.decision_record import DecisionRecord
from nudge.models.campaign import CampaignSet
from nudge.models.device import ConsentChange
from nudge.models.events import IncomingEvent, QueuedBatch
from nudge.models.profile import Profile, Transition
from nudge.models.stats import LifecycleCounts, StageChange
from nudge.services.ports import HistoryEntry


class InMemoryProfileStore:
    def __init__(self) -> None:
        self.items: dict[str, Profile] = {}
        self.cursors: dict[str, int] = {}
        self.due_shards = 1
        self.due_buckets: dict[str, str] = {}  # as the item's due_bucket: set by its own save
        self._lock = threading.Lock()
        self.fail_next_saves = 0  # fault injection
        self.stages: Counter[str] = Counter()
        self.moves: defaultdict[int, Counter[str]] = defaultdict(Counter)
        self.named_counters: defaultdict[str, Counter[str]] = defaultdict(Counter)

    def get(self, user_id: str) -> Profile | None:
        with self._lock:
            stored = self.items.get(user_id)
            return stored.model_copy(deep=True) if stored else None

    def save(
        self,
        profile: Profile,
        previous: Profile | None,
        due_shards: int,
        change: StageChange | None = None,
        counters: Mapping[str, Mapping[str, int]] | None = None,
    ) -> bool:
        with self._lock:
            if self.fail_next_saves:
                self.fail_next_saves -= 1
                raise ConnectionError("injected DynamoDB failure")
            current = self.items.get(profile.user_id)
            expected = None if previous is None else previous.version
            if (current.version if current else None) != expected:
                return False
            self.items[profile.user_id] = profile.model_copy(deep=True)
            self.due_shards = due_shards
            if profile.due_at is None:
                self.due_buckets.pop(profile.user_id, None)
            else:
                self.due_buckets[profile.user_id] = due_bucket(
                    profile.due_at, profile.user_id, due_shards
                )
            if change is not None:
                # like the adapter's ADD: a stage left and entered at once moves nothing
                deltas: Counter[str] = Counter()
                if change.from_stage is not None:
                    deltas[change.from_stage.value] -= 1
                if change.to_stage is not None:
                    deltas[change.to_stage.value] += 1
                for stage, delta in deltas.items():
                    if delta:
                        self.stages[stage] += delta
                if change.move is not None:
                    self.moves[change.at // 86_400][change.move] += 1
            self._add_counters(counters or {})
            return True

    def add_counters(self, counters: Mapping[str, Mapping[str, int]]) -> None:
        """Move named counters as the adapter's ADD does (zero deltas touch nothing)."""
        with self._lock:
            self._add_counters(counters)

    def _add_counters(self, counters: Mapping[str, Mapping[str, int]]) -> None:
        for name, deltas in counters.items():
            moved = {field: delta for field, delta in deltas.items() if delta}
            if moved:
                self.named_counters[name].update(moved)

    def get_many(self, user_ids: Sequence[str]) -> dict[str, Profile]:
        """Erasure tombstones left out, as the adapter does (a broadcast's segment filter)."""
        with self._lock:
            return {
                u: self.items[u].model_copy(deep=True)
                for u in user_ids
                if u in self.items
                and (self.items[u].erased_at is None or self.items[u].first_seen is not None)
            }

    def get_latest(self, user_ids: Sequence[str]) -> dict[str, Profile]:
        """Profiles as stored, erasure tombstones too."""
        with self._lock:
            return {u: self.items[u].model_copy(deep=True) for u in user_ids if u in self.items}

    def counters(self, names: Sequence[str]) -> dict[str, dict[str, int]]:
        with self._lock:
            return {n: dict(self.named_counters[n]) for n in names if self.named_counters.get(n)}

    def lifecycle_counts(self, first_day: int, last_day: int) -> LifecycleCounts:
        with self._lock:
            moves: Counter[str] = Counter()
            for day in range(first_day, last_day + 1):
                moves.update(self.moves.get(day, {}))
            return LifecycleCounts(stages=dict(self.stages), moves=dict(moves))

    def delete(self, user_id: str) -> bool:
        with self._lock:
            self.due_buckets.pop(user_id, None)
            return self.items.pop(user_id, None) is not None

    def due_users(self, bucket: str) -> list[str]:
        with self._lock:
            return sorted(user for user, found in self.due_buckets.items() if found == bucket)

    def get_cursor(self, name: str) -> int | None:
        return self.cursors.get(name)

    def set_cursor(self, name: str, value: int) -> None:
        self.cursors[name] = value


class InMemoryHistoryStore:
    def __init__(self) -> None:
        # (user, the adapter's sort key) -> the pass's events, as the adapter lays them out
        self.event_items: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.transitions: dict[tuple[str, str], dict[str, Any]] = {}
        self.consents: dict[tuple[str, str], dict[str, Any]] = {}
        # (user, the adapter's sort key) -> (one pass's records, expires_at)
        self.decision_records: dict[tuple[str, str], tuple[list[DecisionRecord], int]] = {}
        self._lock = threading.Lock()

    def put_consent(self, user_id: str, change: ConsentChange, expires_at: int) -> None:
        with self._lock:
            key = (user_id, f"{change.at:011d}#{change.version:06d}#{change.category}")
            self.consents[key] = {
                "type": "consent",
                **change.model_dump(mode="json", exclude_none=True),
            }

    def existing_event_ids(
        self, events: Sequence[tuple[str, IncomingEvent]]
    ) -> set[tuple[str, str]]:
        by_user: dict[str, list[IncomingEvent]] = defaultdict(list)
        for user_id, event in events:
            by_user[user_id].append(event)
        found = set()
        with self._lock:
            for user_id, mine in by_user.items():
                low, high = history_items.hour_range(mine)
                wanted = {event.event_id for event in mine}
                for (u, sk), records in self.event_items.items():
                    if u == user_id and low <= sk <= high:
                        found |= {(u, r["event_id"]) for r in records if r["event_id"] in wanted}
        return found

    def append(self, entries: Sequence[HistoryEntry]) -> None:
        for entry in entries:
            with self._lock:
                for key, events, _ in history_items.group(entry.events):
                    # as the adapter reads it back: the events, no TTL attribute
                    self.event_items[(entry.user_id, key)] = [
                        {"type": "event", **event.model_dump(mode="json")} for event in events
                    ]
            if entry.transition is not None:
                self.put_transition(entry.user_id, entry.transition, entry.expires_at)
            self._put_pack(entry.user_id, entry.decisions, entry.decisions_expire_at, "p")

    def put_decisions(
        self, user_id: str, records: Sequence[DecisionRecord], expires_at: int
    ) -> None:
        self._put_pack(user_id, records, expires_at, "s")

    def _put_pack(
        self, user_id: str, records: Sequence[DecisionRecord], expires_at: int, writer: str
    ) -> None:
        with self._lock:
            for at, pack in packs(records).items():
                self.decision_records[(user_id, pack_key(at, writer))] = (pack, expires_at)

    def decisions(self, user_id: str) -> list[DecisionRecord]:
        with self._lock:
            found = [(k, r) for (u, k), (r, _) in self.decision_records.items() if u == user_id]
        return [record for _, records in sorted(found, reverse=True) for record in records]

    def put_transition(self, user_id: str, transition: Transition, expires_at: int) -> None:
        with self._lock:
            key = (user_id, f"{transition.at:011d}#{transition.to_stage.value}")
            self.transitions[key] = {"type": "transition", **transition.model_dump(mode="json")}

    def _items(self, user_id: str) -> list[tuple[str, list[dict[str, Any]]]]:
        """The user's items in the adapter's sort key order, each with the records it holds:
        c#, d#, h# (a pass's events), t#."""
        with self._lock:
            return sorted(
                [
                    (k, [dict(r) for r in v])
                    for (u, k), v in self.event_items.items()
                    if u == user_id
                ]
                + [(f"c#{c}", [dict(v)]) for (u, c), v in self.consents.items() if u == user_id]
                + [(f"t#{t}", [dict(v)]) for (u, t), v in self.transitions.items() if u == user_id]
                + [
                    (k, [{"type": "decision", "at": r[0].at, "records": pack_body(r)}])
                    for (u, k), (r, _) in self.decision_records.items()
                    if u == user_id
                ],
                key=lambda row: row[0],
            )

    def list_user(self, user_id: str) -> list[dict[str, Any]]:
        return [record for _, records in self._items(user_id) for record in records]

    def list_user_page(
        self, user_id: str, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        return history_items.page(self._items(user_id), limit, after)

    def delete_user(self, user_id: str) -> int:
        """The count of records erased, as the adapter answers."""
        erased = sum(len(records) for _, records in self._items(user_id))
        with self._lock:
            for store in (self.event_items, self.transitions, self.consents, self.decision_records):
                for key in [k for k in store if k[0] == user_id]:
                    del store[key]  # type: ignore[attr-defined]
        return erased

    def delete_events(self, user_id: str, event_ids: Sequence[str]) -> None:
        dropped = set(event_ids)
        with self._lock:
            for key in [k for k in self.event_items if k[0] == user_id]:
                kept = [r for r in self.event_items[key] if r["event_id"] not in dropped]
                if kept:
                    self.event_items[key] = kept
                else:
                    del self.event_items[key]


class InMemoryPublisher:
    def __init__(self) -> None:
        self.sent: list[QueuedBatch] = []
        self.fail_indexes: set[int] = set()

    def publish(self, batches: Sequence[QueuedBatch]) -> list[int]:
        failed = [i for i in range(len(batches)) if i in self.fail_indexes]
        self.sent.extend(b for i, b in enumerate(batches) if i not in self.fail_indexes)
        return failed


class InMemoryCampaignCatalog:
    """The published campaign set, held as given (tests swap it to publish a new version)."""

    def __init__(self, published: CampaignSet | None = None) -> None:
        self.published = published or CampaignSet()

    def current(self) -> CampaignSet:
        return self.published


class InMemoryQueue:
    def __init__(self) -> None:
        self.bodies: list[str] = []

    def enqueue(self, body: str) -> None:
        self.bodies.append(body)

    def enqueue_many(self, bodies: Sequence[str]) -> None:
        for body in bodies:
            self.enqueue(body)


class InMemoryConfigTable:
    """The ConfigTable port in memory, with the same conditional writes."""

    def __init__(self) -> None:
        from nudge.models.configs import Catalog, ConfigHead, ConfigVersion, LoadError

        self.versions_: dict[tuple[str, str, int], ConfigVersion] = {}
        self.heads_: dict[tuple[str, str], ConfigHead] = {}
        self.errors_: dict[str, LoadError] = {}
        self.catalogs: dict[str, Catalog] = {}
        self.catalog_reads = 0
        self._lock = threading.RLock()

    def put_version(self, version: Any) -> bool:
        with self._lock:
            key = (version.kind, version.config_id, version.version)
            if key in self.versions_:
                return False
            self.versions_[key] = version
            return True

    def get_version(self, kind: str, config_id: str, version: int) -> Any:
        with self._lock:
            return self.versions_.get((kind, config_id, version))

    def latest_version(self, kind: str, config_id: str) -> Any:
        found = self.versions(kind, config_id)
        return found[-1] if found else None

    def versions(self, kind: str, config_id: str) -> list[Any]:
        with self._lock:
            return [
                v
                for (k, c, _), v in sorted(self.versions_.items(), key=lambda kv: kv[0][2])
                if (k, c) == (kind, config_id)
            ]

    def get_head(self, kind: str, config_id: str) -> Any:
        with self._lock:
            return self.heads_.get((kind, config_id))

    def heads(self, kind: str) -> list[Any]:
        with self._lock:
            return [h for (k, _), h in sorted(self.heads_.items()) if k == kind]

    def put_head(self, head: Any, expected: Any) -> bool:
        with self._lock:
            stored = self.heads_.get((head.kind, head.config_id))
            if (stored.rev if stored else None) != (expected.rev if expected else None):
                return False
            self.heads_[(head.kind, head.config_id)] = head
            return True

    def put_error(self, error: Any) -> None:
        with self._lock:
            self.errors_[error.key] = error

    def delete_error(self, key: str) -> None:
        with self._lock:
            self.errors_.pop(key, None)

    def errors(self) -> list[Any]:
        with self._lock:
            return [self.errors_[key] for key in sorted(self.errors_)]  # by key, as a Query

    def get_catalogs(self, kinds: Sequence[str]) -> dict[str, Any]:
        with self._lock:
            self.catalog_reads += 1
            return {kind: self.catalogs[kind] for kind in kinds if kind in self.catalogs}

    def put_catalog(self, catalog: Any, expected_revision: int | None) -> bool:
        with self._lock:
            stored = self.catalogs.get(catalog.kind)
            if (stored.revision if stored else None) != expected_revision:
                return False
            self.catalogs[catalog.kind] = catalog
            return True


class InMemoryFenceObjects:
    """The FenceObjects port in memory (published fence sets)."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.reads = 0

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = bytes(data)

    def get(self, key: str) -> bytes | None:
        self.reads += 1
        return self.objects.get(key)


class InMemoryFenceCatalog:
    """The FenceCatalog port held as given: fence sets (indexed on first use) or an index."""

    def __init__(self, sets: Sequence[Any] = (), index: Any = None) -> None:
        self.sets = list(sets)
        self.index = index

    def publish(self, sets: Sequence[Any]) -> None:
        self.sets, self.index = list(sets), None

    def current_index(self) -> Any:
        if self.index is None and self.sets:
            from nudge.domain.geofencing.index import build_index

            self.index = build_index(self.sets)
        return self.index


class InMemorySurveyStore:
    """The SurveyStore port in memory: the same version conditions and all-or-nothing writes."""

    def __init__(self) -> None:
        from nudge.domain.nps.score import NpsAggregates

        self.states: dict[tuple[str, str], tuple[Any, int]] = {}
        self.last_prompt: dict[str, int] = {}
        self.responses: dict[tuple[str, str, str], Any] = {}
        self.counters = NpsAggregates()
        self.fail_next_saves = 0  # fault injection: a lost write (the caller retries)
        self._lock = threading.RLock()

    def user_surveys(self, user_id: str) -> Any:
        from nudge.models.nps_store import StoredState, UserSurveys

        with self._lock:
            states = {
                survey: StoredState(state, version)
                for (user, survey), (state, version) in self.states.items()
                if user == user_id
            }
            return UserSurveys(states, self.last_prompt.get(user_id))

    def _state_ok(self, user_id: str, survey_id: str, expected: int) -> bool:
        stored = self.states.get((user_id, survey_id))
        return (stored[1] if stored else 0) == expected

    def create_prompt(
        self, state: Any, expected_version: int, last_prompt_read: int | None, now: int
    ) -> bool:
        with self._lock:
            if not self._state_ok(state.user_id, state.survey_id, expected_version):
                return False
            if self.last_prompt.get(state.user_id) != last_prompt_read:
                return False
            self.states[(state.user_id, state.survey_id)] = (_stored(state), expected_version + 1)
            self.last_prompt[state.user_id] = now
            return True

    def save_state(self, state: Any, expected_version: int, now: int) -> bool:
        with self._lock:
            if not self._state_ok(state.user_id, state.survey_id, expected_version):
                return False
            self.states[(state.user_id, state.survey_id)] = (_stored(state), expected_version + 1)
            return True

    def get_response(self, user_id: str, survey_id: str, prompt_id: str) -> Any:
        with self._lock:
            return self.responses.get((user_id, survey_id, prompt_id))

    def save_response(
        self, response: Any, expected_version: int, delta: Any, state: Any, now: int
    ) -> bool:
        from dataclasses import replace

        with self._lock:
            if self.fail_next_saves:
                self.fail_next_saves -= 1
                raise ConnectionError("injected DynamoDB failure")
            r = response.state
            key = (r.user_id, r.survey_id, r.prompt_id)
            stored = self.responses.get(key)
            if (stored.version if stored else 0) != expected_version:
                return False
            if state is not None and not self._state_ok(
                state.state.user_id, state.state.survey_id, state.version
            ):
                return False
            self.responses[key] = replace(response, version=expected_version + 1)
            if state is not None:
                self.states[(state.state.user_id, state.state.survey_id)] = (
                    _stored(state.state),
                    state.version + 1,
                )
            self.counters.apply(delta)
            return True

    def done_action(self, user_id: str, survey_id: str, prompt_id: str, action: str) -> None:
        from dataclasses import replace

        with self._lock:
            key = (user_id, survey_id, prompt_id)
            stored = self.responses.get(key)
            if stored is not None:
                self.responses[key] = replace(stored, actions=stored.actions - {action})

    def day_counts(self, survey_id: str, first_day: str, last_day: str) -> Any:
        from nudge.domain.nps.score import NpsAggregates

        with self._lock:
            return NpsAggregates(
                {
                    cell: list(counts)
                    for cell, counts in self.counters.cells.items()
                    if cell.survey_id == survey_id and first_day <= cell.period <= last_day
                }
            )

    def recent_responses(
        self, survey_id: str, limit: int, since: int | None = None, until: int | None = None
    ) -> list[Any]:
        from nudge.adapters.surveys import answered_key

        with self._lock:
            found = [
                stored.state
                for (_, survey, _), stored in self.responses.items()
                if survey == survey_id
            ]
        low = f"{max(since or 0, 0):011d}"
        high = f"{until if until is not None else 99_999_999_999:011d}#\uffff"
        found = [s for s in found if low <= answered_key(s) <= high]
        return sorted(found, key=answered_key, reverse=True)[:limit]

    def user_responses(self, user_id: str) -> list[Any]:
        from nudge.adapters.surveys import answered_key

        with self._lock:
            found = [
                stored.state for (user, _, _), stored in self.responses.items() if user == user_id
            ]
        return sorted(found, key=answered_key)

    def delete_user(self, user_id: str) -> int:
        """Like DynamoDB: every item of the user, the last-prompt record too; counters stay."""
        with self._lock:
            keys = [k for k in self.states if k[0] == user_id]
            rkeys = [k for k in self.responses if k[0] == user_id]
            for key in keys:
                del self.states[key]
            for rkey in rkeys:
                del self.responses[rkey]
            last = self.last_prompt.pop(user_id, None)
            return len(keys) + len(rkeys) + int(last is not None)


def _stored(state: Any) -> Any:
    """A survey state as the adapter stores it: the user-level last prompt is not part of it."""
    return state.model_copy(update={"last_prompt_any_survey_at": None})


class InMemorySurveyCatalog:
    def __init__(self, surveys: dict[str, Any] | None = None) -> None:
        self.published: dict[str, Any] = dict(surveys or {})

    def surveys(self, fresh: bool = False) -> dict[str, Any]:
        return self.published
