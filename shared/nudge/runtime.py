"""Composition root: settings, the clock and services, each built once per cold start.

Handlers ask for a service here; tests and the embedded local stack swap the clock with
`set_clock` (the virtual clock) instead of patching time.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from nudge.clock import Clock, SystemClock
from nudge.settings import get_settings

if TYPE_CHECKING:
    from nudge.adapters.delivery_log import DynamoDeliveryLog
    from nudge.adapters.devices import DynamoDeviceStore
    from nudge.adapters.fatigue import DynamoFatigueLedger
    from nudge.adapters.profile_sample import DynamoProfileSampler
    from nudge.adapters.sqs import SqsPushQueue
    from nudge.adapters.templates_store import DynamoTemplateStore
    from nudge.adapters.webhooks import OpsAlerts
    from nudge.models.response_model import RegionalView
    from nudge.services.campaigns.configs import CampaignConfigService
    from nudge.services.campaigns.runner import CampaignRunner
    from nudge.services.configs.store import ConfigStore
    from nudge.services.engagement.auto_pause import AutoPauseService
    from nudge.services.engagement.auto_promote import AutoPromoteService
    from nudge.services.engagement.breakdown import BreakdownService
    from nudge.services.engagement.decision_trail import DecisionTrail
    from nudge.services.engagement.regional_model import RegionalModelService
    from nudge.services.engagement.reports import ReportsService
    from nudge.services.engagement.segment_health import SegmentHealthService
    from nudge.services.engagement.sunset_digest import SunsetDigestService
    from nudge.services.geofencing.tracker import GeoTracker
    from nudge.services.messaging.broadcasts import BroadcastService
    from nudge.services.messaging.devices import DevicesService
    from nudge.services.messaging.push import PushService
    from nudge.services.migration.kinesis_ingest import KinesisIngest
    from nudge.services.pipeline.processing import EventProcessingService
    from nudge.services.pipeline.scheduler import SchedulerService
    from nudge.services.ports import PreferenceReader
    from nudge.services.profiles.ingest import IngestService
    from nudge.services.profiles.privacy import PrivacyService
    from nudge.services.ratelimit import RateLimiter

_clock: Clock = SystemClock()


class _CurrentClock:
    """Delegates to whatever clock is installed, so services built early see a swap."""

    def now(self) -> datetime:
        return _clock.now()


CLOCK = _CurrentClock()


def set_clock(clock: Clock) -> None:
    global _clock
    _clock = clock


@lru_cache(maxsize=1)
def ingest_service() -> IngestService:
    from nudge.adapters.sqs import SqsEventPublisher
    from nudge.services.profiles.ingest import IngestService

    settings = get_settings()
    return IngestService(SqsEventPublisher(settings.events_queue_url), settings.engagement, CLOCK)


@lru_cache(maxsize=1)
def kinesis_ingest() -> KinesisIngest:
    """Amplify's Kinesis path: stream records into the events queue (functions/kinesis_ingest)."""
    from nudge.services.migration.kinesis_ingest import KinesisIngest

    return KinesisIngest(ingest_service(), get_settings().engagement)


def rate_limiter() -> RateLimiter:
    """Per-user limits of the mobile API's writes (built per request: a dataclass and the
    cached client; no cache for tests to reset)."""
    from nudge.adapters.ratelimit import DynamoRequestCounter
    from nudge.services.ratelimit import RateLimiter

    settings = get_settings()
    writes = settings.rate_limit_writes_per_minute
    limits = {
        "events": settings.rate_limit_events_per_minute,
        "devices": writes,
        "preferences": writes,
        "surveys": writes,
    }
    return RateLimiter(DynamoRequestCounter(settings.profiles_table), limits, CLOCK)


def _stores() -> tuple:
    from nudge.adapters.dynamodb import DynamoProfileStore
    from nudge.adapters.history import DynamoHistoryStore

    settings = get_settings()
    profiles = DynamoProfileStore(settings.profiles_table)
    profiles.cells_table = settings.history_table  # campaign response cells (breakdown.py)
    return profiles, DynamoHistoryStore(settings.history_table)


@lru_cache(maxsize=1)
def processing_service() -> EventProcessingService:
    from nudge.adapters.delivery_log import DynamoDeliveryLog
    from nudge.services.messaging.preferences import BatchPreferences
    from nudge.services.pipeline.processing import EventProcessingService

    profiles, history = _stores()
    settings = get_settings()
    preferences = BatchPreferences(_device_store())  # read once per batch for both readers
    return EventProcessingService(
        profiles,
        history,
        settings.engagement,
        CLOCK,
        # a broadcast's opens are counted in the profiles table's named counters
        DynamoDeliveryLog(settings.delivery_table, counters_table=settings.profiles_table),
        campaign_runner(preferences),
        geo=geo_tracker(preferences),
        surveys=survey_service(),
        preferences=preferences,
    )


def geo_tracker(preferences: PreferenceReader | None = None) -> GeoTracker | None:
    """Location events -> fence transitions; off where no configs bucket is configured."""
    from nudge.services.geofencing.tracker import GeoTracker

    settings = get_settings()
    if not settings.configs_bucket:
        return None
    return GeoTracker(fence_catalog(), preferences or _device_store(), settings.engagement)


def campaign_runner(preferences: PreferenceReader | None = None) -> CampaignRunner:
    from nudge.services.campaigns.runner import CampaignRunner

    return CampaignRunner(
        campaign_catalog(),
        preferences or _device_store(),
        push_queue(),
        get_settings().engagement,
        fatigue=fatigue_ledger(),
        zone_devices=_device_store(),  # the user's zone as push_sender resolves it
    )


def fatigue_ledger() -> DynamoFatigueLedger:
    """The one fatigue budget (an item per user in the delivery log's table); one per service
    that books or reads it (cheap: the client is shared)."""
    from nudge.adapters.fatigue import DynamoFatigueLedger

    return DynamoFatigueLedger(get_settings().delivery_table)


@lru_cache(maxsize=1)
def scheduler_service() -> SchedulerService:
    from nudge.adapters.scheduler import DynamoDueBuckets, SqsShardQueue
    from nudge.services.pipeline.scheduler import SchedulerService

    profiles, history = _stores()
    settings = get_settings()
    return SchedulerService(
        profiles,
        history,
        settings.engagement,
        CLOCK,
        campaigns=campaign_runner(),
        geo=geo_tracker(),
        buckets=DynamoDueBuckets(settings.profiles_table),
        shards=SqsShardQueue(settings.scheduler_shards_queue_url),
    )


def profile_store() -> Any:
    return _stores()[0]


def device_store() -> DynamoDeviceStore:
    return _device_store()


def _device_store() -> DynamoDeviceStore:
    from nudge.adapters.devices import DynamoDeviceStore

    return DynamoDeviceStore(get_settings().devices_table)


@lru_cache(maxsize=1)
def privacy_service() -> PrivacyService:
    from nudge.adapters.broadcasts import DynamoBroadcastStore
    from nudge.adapters.delivery_log import DynamoDeliveryLog
    from nudge.services.profiles.privacy import PrivacyService

    profiles, history = _stores()
    settings = get_settings()
    return PrivacyService(
        profiles,
        history,
        settings.engagement,
        CLOCK,
        _device_store(),
        survey_store(),
        deliveries=DynamoDeliveryLog(settings.delivery_table),
        broadcasts=DynamoBroadcastStore(settings.broadcasts_table),
        rate_limits=rate_limiter(),  # its scopes: the counters erasure deletes
    )


@lru_cache(maxsize=1)
def decision_trail() -> DecisionTrail:
    """`why`: the campaign decision record and the delivery log of one user."""
    from nudge.adapters.delivery_log import DynamoDeliveryLog
    from nudge.services.engagement.decision_trail import DecisionTrail

    _, history = _stores()
    return DecisionTrail(history, DynamoDeliveryLog(get_settings().delivery_table))


@lru_cache(maxsize=1)
def devices_service() -> DevicesService:
    from nudge.adapters.sqs import SqsEventPublisher
    from nudge.services.messaging.devices import DevicesService

    _, history = _stores()
    settings = get_settings()
    events = SqsEventPublisher(settings.events_queue_url) if settings.events_queue_url else None
    return DevicesService(_device_store(), history, settings.engagement, CLOCK, events)


@lru_cache(maxsize=1)
def reports_service() -> ReportsService:
    from nudge.services.engagement.reports import ReportsService

    profiles, _ = _stores()
    analytics = get_settings().engagement.analytics
    return ReportsService(profiles, CLOCK, campaign_catalog(), analytics)


@lru_cache(maxsize=1)
def breakdown_service() -> BreakdownService:
    from nudge.adapters.breakdown import DynamoBreakdownCounters
    from nudge.services.engagement.breakdown import BreakdownService

    settings = get_settings()
    counters = DynamoBreakdownCounters(settings.history_table)
    return BreakdownService(counters, campaign_catalog(), CLOCK, settings.engagement.analytics)


@lru_cache(maxsize=1)
def ops_alerts() -> OpsAlerts | None:
    """The ops alert destinations (SNS topic and/or webhook), if any is configured."""
    from nudge.adapters.webhooks import OpsAlerts

    settings = get_settings()
    if settings.alerts_topic_arn or settings.alerts_webhook_url:
        return OpsAlerts(settings.alerts_topic_arn, settings.alerts_webhook_url)
    return None


@lru_cache(maxsize=1)
def auto_pause_service() -> AutoPauseService:
    from nudge.services.engagement.auto_pause import AutoPauseService

    analytics = get_settings().engagement.analytics
    return AutoPauseService(reports_service(), campaign_configs(), ops_alerts(), analytics, CLOCK)


@lru_cache(maxsize=1)
def auto_promote_service() -> AutoPromoteService:
    from nudge.services.engagement.auto_promote import AutoPromoteService

    analytics = get_settings().engagement.analytics
    return AutoPromoteService(reports_service(), campaign_configs(), analytics, CLOCK)


@lru_cache(maxsize=1)
def sunset_digest_service() -> SunsetDigestService:
    from nudge.services.engagement.sunset_digest import SunsetDigestService

    profiles, _ = _stores()
    analytics = get_settings().engagement.analytics
    return SunsetDigestService(reports_service(), profiles, ops_alerts(), analytics, CLOCK)


@lru_cache(maxsize=1)
def segment_health_service() -> SegmentHealthService:
    """Named segments' daily sampled sizes and swings (scheduler), their report (admin_api)."""
    from nudge.adapters.segment_health import DynamoSegmentHealthStore
    from nudge.services.engagement.segment_health import SegmentHealthService

    settings = get_settings()
    return SegmentHealthService(
        DynamoSegmentHealthStore(settings.profiles_table),
        profile_sampler(),
        reports_service(),
        ops_alerts(),
        settings.engagement.analytics,
        CLOCK,
        half_life_days=settings.engagement.interest_half_life_days,
        regional_view=regional_view,
    )


@lru_cache(maxsize=1)
def push_queue() -> SqsPushQueue:
    from nudge.adapters.sqs import SqsPushQueue

    return SqsPushQueue(get_settings().pushes_queue_url)


@lru_cache(maxsize=1)
def push_service() -> PushService:
    from nudge.adapters.broadcasts import DynamoBroadcastStore
    from nudge.adapters.delivery_log import DynamoDeliveryLog
    from nudge.adapters.dynamodb import DynamoProfileStore
    from nudge.adapters.fcm import FirebaseSender
    from nudge.services.messaging.push import PushService

    settings = get_settings()

    def credentials() -> str:
        return settings.fcm_credentials_json or _secret(settings.fcm_credentials_secret)

    from nudge.adapters.sqs import SqsEventPublisher

    sender = FirebaseSender(credentials, settings.fcm_project_id, settings.fcm_endpoint)
    # campaign outcomes are counted in the profiles table's campaign day counters
    counters_table = settings.profiles_table or None
    events = SqsEventPublisher(settings.events_queue_url) if settings.events_queue_url else None
    return PushService(
        _device_store(),
        DynamoDeliveryLog(settings.delivery_table, counters_table=counters_table),
        sender,
        settings.engagement,
        CLOCK,
        events,
        broadcasts=DynamoBroadcastStore(settings.broadcasts_table),  # cancelled ones: not sent
        fatigue=fatigue_ledger(),
        # a zone from the profile when nothing else names one
        profiles=DynamoProfileStore(settings.profiles_table),
    )


def _secret(secret_id: str) -> str:
    from nudge.adapters.aws import client

    return str(client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"])


@lru_cache(maxsize=1)
def delivery_log() -> DynamoDeliveryLog:
    from nudge.adapters.delivery_log import DynamoDeliveryLog

    return DynamoDeliveryLog(get_settings().delivery_table)


@lru_cache(maxsize=1)
def template_store() -> DynamoTemplateStore:
    from nudge.adapters.templates_store import DynamoTemplateStore

    return DynamoTemplateStore(get_settings().templates_table)


@lru_cache(maxsize=1)
def broadcast_service() -> BroadcastService:
    from nudge.adapters.broadcasts import (
        DynamoAudience,
        DynamoBroadcastStore,
        SqsJobQueue,
        SqsStepQueue,
    )
    from nudge.models.segment import Segment
    from nudge.services.messaging.broadcasts import BroadcastService

    settings = get_settings()
    half_life = settings.engagement.interest_half_life_days

    def estimate(audience: Segment) -> dict[str, Any]:
        """The campaigns' sampled estimate (admin_api reads the profiles; a step never)."""
        from functools import partial

        from nudge.domain.profiles.segments import matches
        from nudge.services.campaigns.configs import estimate_segment

        return estimate_segment(
            audience,
            profile_sampler(),
            partial(matches, half_life_days=half_life, response=regional_view()),
            campaign_catalog().named_segments(),
            int(CLOCK.now().timestamp()),
        )

    return BroadcastService(
        DynamoBroadcastStore(settings.broadcasts_table),
        SqsStepQueue(settings.broadcasts_queue_url),
        SqsJobQueue(settings.pushes_queue_url),
        DynamoAudience(settings.devices_table),
        CLOCK,
        template_store(),
        profiles=_stores()[0],
        catalog=campaign_catalog(),
        interest_half_life_days=half_life,
        default_zone=settings.engagement.consent.default_timezone,
        estimator=estimate,
    )


CATALOG_CACHE_S = 30.0  # the processor reads the active campaigns at most this often


@lru_cache(maxsize=1)
def config_store() -> ConfigStore:
    from nudge.adapters.configs import DynamoConfigTable
    from nudge.services.configs.store import ConfigStore

    return ConfigStore(DynamoConfigTable(get_settings().configs_table), CLOCK, CATALOG_CACHE_S)


def campaign_catalog() -> ConfigStore:
    """The CampaignCatalog port: `campaign_catalog().current()` -> CampaignSet (cached 30 s)."""
    return config_store()


def regional_view() -> RegionalView | None:
    """The published regional response model for segment conditions (read with the catalog)."""
    from nudge.domain.engagement.regional_model import view_of

    return view_of(campaign_catalog().current().response_model)


@lru_cache(maxsize=1)
def regional_model_service() -> RegionalModelService:
    from nudge.adapters.breakdown import DynamoBreakdownCounters
    from nudge.services.engagement.regional_model import RegionalModelService

    settings = get_settings()
    counters = DynamoBreakdownCounters(settings.history_table)
    store = config_store()
    config = settings.engagement.analytics.regional_model
    return RegionalModelService(counters, store, store, CLOCK, config)


@lru_cache(maxsize=1)
def campaign_configs() -> CampaignConfigService:
    from nudge.services.campaigns.configs import CampaignConfigService

    catalog = get_settings().engagement.event_catalog
    return CampaignConfigService(config_store(), CLOCK, frozenset(catalog) if catalog else None)


@lru_cache(maxsize=1)
def profile_sampler() -> DynamoProfileSampler:
    from nudge.adapters.profile_sample import DynamoProfileSampler

    return DynamoProfileSampler(get_settings().profiles_table)


# Surveys and NPS, fence sets and the config loader: built in runtime_configs.py (this file's
# second half), named here so that handlers and tests ask the one composition root.
from nudge.runtime_configs import (  # noqa: E402 - after the factories it builds on
    FENCE_CHECK_S,
    config_loader,
    detractor_router,
    fence_catalog,
    fence_objects,
    fence_sets,
    nps_reports,
    survey_configs,
    survey_service,
    survey_store,
)

__all__ = [
    "FENCE_CHECK_S",
    "config_loader",
    "detractor_router",
    "fence_catalog",
    "fence_objects",
    "fence_sets",
    "nps_reports",
    "survey_configs",
    "survey_service",
    "survey_store",
]
