"""The ports the services depend on; DynamoDB/SQS adapters and in-memory fakes implement them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

# push delivery's ports are in delivery_ports.py, re-exported here: importers need not know
from nudge.services.delivery_ports import DeliveryLog as DeliveryLog
from nudge.services.delivery_ports import FatigueLedger as FatigueLedger
from nudge.services.delivery_ports import FcmResult as FcmResult
from nudge.services.delivery_ports import FcmSender as FcmSender

if TYPE_CHECKING:  # type hints only: a handler that needs none of these never imports them
    from collections import Counter
    from datetime import datetime

    from nudge.domain.engagement.decision_record import DecisionRecord
    from nudge.domain.engagement.segment_health import HealthPoint
    from nudge.domain.geofencing.index import FenceIndex
    from nudge.domain.nps.score import Delta, NpsAggregates
    from nudge.models.broadcast import Broadcast
    from nudge.models.campaign import CampaignSet
    from nudge.models.configs import (
        Catalog,
        CatalogKind,
        ConfigHead,
        ConfigKind,
        ConfigVersion,
        LoadError,
    )
    from nudge.models.device import ConsentChange, Device, Preferences
    from nudge.models.events import IncomingEvent, QueuedBatch
    from nudge.models.nps_store import StoredResponse, StoredState, UserSurveys
    from nudge.models.profile import Profile, Transition
    from nudge.models.response_model import ResponseModel
    from nudge.models.scheduler import DueShard
    from nudge.models.stats import LifecycleCounts, StageChange
    from nudge.models.survey import SurveyConfig
    from nudge.models.survey_responses import ResponseState, SurveyState


class ProfileStore(Protocol):
    def get(self, user_id: str) -> Profile | None: ...

    def get_latest(self, user_ids: Sequence[str]) -> dict[str, Profile]:
        """Strongly consistent reads of several profiles as stored (erased ones too)."""
        ...

    def save(
        self,
        profile: Profile,
        previous: Profile | None,
        due_shards: int,
        change: StageChange | None = None,
        counters: Mapping[str, Mapping[str, int]] | None = None,
    ) -> bool:
        """Write if the stored item is still `previous` (by version); False on conflict.

        With a `change`, the lifecycle counters move in the same transaction (exactly once);
        `counters` (name -> field -> delta, e.g. a campaign's day) move with them.
        """
        ...

    def counters(self, names: Sequence[str]) -> dict[str, dict[str, int]]:
        """Totals of the named counters (summed over their shards)."""
        ...

    def delete(self, user_id: str) -> bool: ...

    def get_many(self, user_ids: Sequence[str]) -> dict[str, Profile]: ...

    def lifecycle_counts(self, first_day: int, last_day: int) -> LifecycleCounts:
        """Users per stage now, and stage moves per day in [first_day, last_day]."""
        ...

    def due_users(self, bucket: str) -> list[str]: ...

    def get_cursor(self, name: str) -> int | None: ...

    def set_cursor(self, name: str, value: int) -> None: ...


@dataclass(frozen=True)
class HistoryEntry:
    """What one user's pass adds to the history: its events, any stage transition, and its
    campaign decision records (with an expiry of their own)."""

    user_id: str
    events: Sequence[IncomingEvent]
    received_at: int
    expires_at: int
    transition: Transition | None = None
    decisions: Sequence[DecisionRecord] = ()
    decisions_expire_at: int = 0


class HistoryStore(Protocol):
    def existing_event_ids(
        self, events: Sequence[tuple[str, IncomingEvent]]
    ) -> set[tuple[str, str]]:
        """The (user, event id) of these that are recorded. An event is found again by its id
        among the events recorded for the same hour (retries and redeliveries keep the
        timestamp)."""
        ...

    def append(self, entries: Sequence[HistoryEntry]) -> None:
        """Several users' entries in as few writes as possible; idempotent, not atomic."""
        ...

    def put_transition(self, user_id: str, transition: Transition, expires_at: int) -> None: ...

    def put_consent(self, user_id: str, change: ConsentChange, expires_at: int) -> None: ...

    def list_user(self, user_id: str) -> list[dict[str, Any]]: ...

    def list_user_page(
        self, user_id: str, limit: int, after: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Up to `limit` records after the cursor `after`; the next cursor, or None at the end."""
        ...

    def delete_user(self, user_id: str) -> int: ...

    def delete_events(self, user_id: str, event_ids: Sequence[str]) -> None: ...

    def put_decisions(
        self, user_id: str, records: Sequence[DecisionRecord], expires_at: int
    ) -> None:
        """Campaign decision records (the scheduler's; the processor's ride in `append`)."""
        ...

    def decisions(self, user_id: str) -> list[DecisionRecord]:
        """The user's campaign decision records, newest first."""
        ...


class EventPublisher(Protocol):
    def publish(self, batches: Sequence[QueuedBatch]) -> list[int]:
        """Send batches; return the indexes that could not be sent."""
        ...


class PreferenceReader(Protocol):
    def preferences(self, user_id: str) -> Preferences | None: ...


class DeviceLister(Protocol):
    """The user's devices, for their time zones and locales (see services/messaging/timezones)."""

    def devices(self, user_id: str, now: int | None = None) -> list[Device]: ...


class ProfileReader(Protocol):
    def get(self, user_id: str) -> Profile | None: ...


class DeviceStore(Protocol):
    def put_device(self, device: Device) -> bool:
        """Last registration wins; an older one arriving late is ignored (False)."""
        ...

    def devices(self, user_id: str, now: int | None = None) -> list[Device]:
        """The user's devices; with `now`, those past their expiry are left out."""
        ...

    def delete_device(self, user_id: str, device_id: str, only_if_token: str | None = None) -> bool:
        """Delete (only while it still holds `only_if_token`, when given)."""
        ...

    def holders_of(self, token: str) -> list[tuple[str, str]]: ...

    def preferences(self, user_id: str) -> Preferences | None: ...

    def preferences_many(self, user_ids: Sequence[str]) -> dict[str, Preferences]:
        """Strongly consistent reads of several users' preferences (those who have any)."""
        ...

    def partitions(
        self, user_ids: Sequence[str], now: int | None = None
    ) -> dict[str, tuple[list[Device], Preferences | None]]:
        """Each user's (devices, preferences), read together (strongly consistent)."""
        ...

    def save_preferences(self, prefs: Preferences, previous: Preferences | None) -> bool: ...

    def delete_user(self, user_id: str) -> int: ...


class CampaignCatalog(Protocol):
    def current(self) -> CampaignSet:
        """The published campaigns and named segments (cached briefly per container)."""
        ...


class BreakdownCounters(Protocol):
    """Campaign responses per cell (domain/engagement/breakdown.py): read by the breakdown
    report and the regional response model (issue 22)."""

    def cells(
        self, campaign_ids: Sequence[str], start_day: str, end_day: str
    ) -> dict[tuple[str, str], Counter[str]]:
        """(dimension, value) -> metric -> count, summed over the campaigns and the UTC days
        start_day..end_day (ISO dates, inclusive). Dimensions: breakdown.DIMENSIONS (country,
        region, city, stage, platform, segment); metrics: breakdown.METRICS (sent, holdout,
        opened, converted, holdout_converted, opt_out); a value nobody knew is "unknown"."""
        ...


class ResponseModels(Protocol):
    """The published regional response model (ConfigStore: an item beside the catalogs)."""

    def response_model(self, fresh: bool = False) -> ResponseModel | None: ...

    def publish_response_model(self, model: ResponseModel) -> bool:
        """Store it for the pipeline (False: a concurrent publish won; nothing changed)."""
        ...


class FenceCatalog(Protocol):
    def current_index(self) -> FenceIndex | None:
        """One FenceIndex over every active fence set (None: none published). Cached per
        container; rebuilt only when the sets' versions change (checked every 30 s)."""
        ...


class FenceObjects(Protocol):
    """Published fence sets as whole objects (too large for a DynamoDB item)."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes | None:
        """The object's bytes; None if there is no such object."""
        ...


class PushQueue(Protocol):
    def enqueue(self, body: str) -> None: ...

    def enqueue_many(self, bodies: Sequence[str]) -> None:
        """Several jobs, ten a request; raise if any is not queued."""
        ...


class DueBuckets(Protocol):
    """The scheduler's bookkeeping of due-index buckets ('<hour>#<shard>') and their parts."""

    def count(self, bucket: str, up_to: int) -> int:
        """Profiles in the bucket now, counted up to about `up_to` (keys only)."""
        ...

    def done(self, keys: Sequence[str]) -> set[str]:
        """Those of `keys` (DueShard.key) a consumer has marked done."""
        ...

    def mark_done(self, key: str, expires_at: int) -> None: ...


class ShardQueue(Protocol):
    def send(self, shards: Sequence[DueShard]) -> None:
        """One message each for the scheduler's consumers; raises if any is not sent."""
        ...


class BroadcastTargets(Protocol):
    """Erasure's view of the broadcasts: the stored user lists that name someone."""

    def get(self, broadcast_id: str) -> Broadcast | None: ...

    def listing(self, user_id: str) -> list[Broadcast]:
        """The broadcasts whose stored user list names the user (running ones)."""
        ...

    def erase_user(self, user_id: str, now: datetime) -> int:
        """Take the user out of every stored list (see Broadcast.without_user); how many
        broadcasts changed."""
        ...


class BroadcastStatuses(Protocol):
    def status(self, broadcast_id: str) -> str | None:
        """running, cancelled or done (None: no such broadcast); one consistent read."""
        ...


class ConfigTable(Protocol):
    """Campaign and segment configs: versions, current pointers, load errors, catalogs.

    The primitives with their conditions; `nudge.services.configs.store.ConfigStore` builds the
    versioning, restore and catalog rules on top of any implementation.
    """

    def put_version(self, version: ConfigVersion) -> bool:
        """Create the version; False (nothing written) if that number is already taken."""
        ...

    def get_version(
        self, kind: ConfigKind, config_id: str, version: int
    ) -> ConfigVersion | None: ...

    def latest_version(self, kind: ConfigKind, config_id: str) -> ConfigVersion | None: ...

    def versions(self, kind: ConfigKind, config_id: str) -> list[ConfigVersion]:
        """Every version, oldest first."""
        ...

    def get_head(self, kind: ConfigKind, config_id: str) -> ConfigHead | None: ...

    def heads(self, kind: ConfigKind) -> list[ConfigHead]:
        """Every config's current pointer (archived included), strongly consistent."""
        ...

    def put_head(self, head: ConfigHead, expected: ConfigHead | None) -> bool:
        """Write the pointer if the stored one is still `expected` (by version, status, time)."""
        ...

    def put_error(self, error: LoadError) -> None: ...

    def delete_error(self, key: str) -> None: ...

    def errors(self) -> list[LoadError]: ...

    def get_catalogs(self, kinds: Sequence[CatalogKind]) -> dict[str, Catalog]:
        """The catalog items of these kinds in one read (absent kinds are left out)."""
        ...

    def put_catalog(self, catalog: Catalog, expected_revision: int | None) -> bool:
        """Write if the stored revision is still `expected_revision` (None: none stored)."""
        ...


class SurveyStore(Protocol):
    """Survey state, pending prompts, responses and NPS day counters (SurveysTable).

    Every write is conditional on the version read (0: the item must not exist yet); False
    means nothing was written: re-read and decide again.
    """

    def user_surveys(self, user_id: str) -> UserSurveys:
        """Every survey state of the user and their last prompt at any survey (one Query)."""
        ...

    def create_prompt(
        self, state: SurveyState, expected_version: int, last_prompt_read: int | None, now: int
    ) -> bool:
        """The state with its new pending prompt, and the user's last prompt time, at once."""
        ...

    def save_state(self, state: SurveyState, expected_version: int, now: int) -> bool: ...

    def get_response(
        self, user_id: str, survey_id: str, prompt_id: str
    ) -> StoredResponse | None: ...

    def save_response(
        self,
        response: StoredResponse,
        expected_version: int,
        delta: Delta,
        state: StoredState | None,
        now: int,
    ) -> bool:
        """The merged response, its counter delta and the survey state, all or nothing."""
        ...

    def done_action(self, user_id: str, survey_id: str, prompt_id: str, action: str) -> None: ...

    def day_counts(self, survey_id: str, first_day: str, last_day: str) -> NpsAggregates:
        """The survey's day cells between two ISO dates (inclusive)."""
        ...

    def recent_responses(
        self, survey_id: str, limit: int, since: int | None = None, until: int | None = None
    ) -> list[ResponseState]:
        """Up to `limit` responses, newest first, answered in [since, until] if given."""
        ...

    def user_responses(self, user_id: str) -> list[ResponseState]:
        """Every merged response of the user (score, comments), oldest first: for GET /v1/me."""
        ...

    def delete_user(self, user_id: str) -> int:
        """Erase every item of the user (states, last-prompt record, responses) by key, no
        scan; returns how many. The anonymous day counters are left alone."""
        ...


class SurveyCatalog(Protocol):
    def surveys(self, fresh: bool = False) -> dict[str, SurveyConfig]:
        """Every non-archived survey with its status now (cached briefly per container)."""
        ...


class Alerts(Protocol):
    def send(self, subject: str, message: dict[str, Any]) -> list[str]:
        """Deliver an ops alert everywhere configured; returns where it could not go."""
        ...


class SegmentHealthStore(Protocol):
    """Segment health's daily points (one item a day for every named segment, with a TTL)."""

    def get(self, day: str) -> HealthPoint | None:
        """One day's point (read consistently), or None."""
        ...

    def days(self, days: Sequence[str]) -> dict[str, HealthPoint]:
        """The points of these days that exist, by day."""
        ...

    def create(self, point: HealthPoint, expires_at: int) -> bool:
        """Store the day's point unless it exists: False (nothing written) when it does."""
        ...

    def put(self, point: HealthPoint, expires_at: int) -> None:
        """Store the day's point over the one there (its alerts and `checked` recorded)."""
        ...


class WebhookPoster(Protocol):
    def post(self, url: str, body: bytes, headers: dict[str, str]) -> int:
        """POST and return the HTTP status; raise on timeouts and connection errors."""
        ...


class RequestCounter(Protocol):
    def take(self, scope: str, user_id: str, window: int, limit: int, expires_at: int) -> bool:
        """Count one request of the user against their one counter of `scope` unless `limit`
        are counted in its window already: False (nothing counted) when refused. A newer
        `window` starts the counter afresh at 1; an older one (a clock behind) is counted in
        the counter's window, never resets it. Each write sets the TTL to `expires_at`."""
        ...

    def forget(self, user_id: str, scopes: Sequence[str]) -> None:
        """Erasure: delete the user's counter of each scope, by key (no scan); one that does
        not exist is no error."""
        ...
