"""The composition root's second half: the factories of what marketers configure by file -
surveys and NPS, fence sets - and the config loader that publishes those files.

`nudge.runtime` names every one of them (handlers and tests ask it, never this module). What
they build on - settings, the clock, the config store, profiles, devices - they take from
`runtime` when called, so a swapped clock or a test's patch there is seen here too.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from nudge import runtime as root
from nudge.settings import get_settings

if TYPE_CHECKING:
    from nudge.adapters.geofences import S3FenceObjects, StoredFenceCatalog
    from nudge.models.profile import Profile
    from nudge.services.configs.loader import ConfigLoader
    from nudge.services.geofencing.fence_sets import FenceSetService
    from nudge.services.nps.detractors import DetractorRouter
    from nudge.services.nps.reports import NpsReportService
    from nudge.services.nps.survey_configs import SurveyConfigService
    from nudge.services.nps.surveys import SurveyService


# --- NPS surveys --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def survey_configs() -> SurveyConfigService:
    """Survey configs (ConfigsTable, kind "survey"); also the SurveyCatalog port (cached)."""
    from nudge.services.nps.survey_configs import SurveyConfigService

    settings = get_settings()  # admin_api and config_loader publish: they get the secret's ARN
    signing = bool(settings.detractor_secret_arn or settings.detractor_secret)
    return SurveyConfigService(root.config_store(), root.CLOCK, webhook_secret_configured=signing)


@lru_cache(maxsize=1)
def survey_store() -> Any:
    from nudge.adapters.surveys import DynamoSurveyStore

    return DynamoSurveyStore(get_settings().surveys_table)


@lru_cache(maxsize=1)
def survey_service() -> SurveyService:
    """Prompts (event_processor), next survey, answers and dismissals (surveys_api)."""
    from nudge.adapters.sqs import SqsEventPublisher, SqsPushQueue
    from nudge.services.nps.surveys import SurveyService

    settings = get_settings()
    engagement = settings.engagement

    def zone_of(profile: Profile) -> str | None:
        """The user's zone in the campaigns' order (preferences and devices read only when
        the profile alone is not enough; imported here: surveys_api never asks)."""
        from nudge.clock import to_epoch
        from nudge.domain.messaging.consent import effective
        from nudge.services.messaging.timezones import campaign_zone

        devices = root._device_store()

        def preferences() -> Any:
            return effective(devices.preferences(profile.user_id), engagement.consent)

        default = engagement.consent.default_timezone
        return campaign_zone(profile, preferences, devices, to_epoch(root.CLOCK.now()), default)()

    return SurveyService(
        survey_store(),
        survey_configs(),
        root.CLOCK,
        detractors=(
            SqsPushQueue(settings.detractors_queue_url) if settings.detractors_queue_url else None
        ),
        events=(
            SqsEventPublisher(settings.events_queue_url) if settings.events_queue_url else None
        ),
        profiles=root._stores()[0] if settings.profiles_table else None,
        segments=root.campaign_catalog(),  # eligibility.segment_name: the published named segments
        interest_half_life_days=settings.engagement.interest_half_life_days,
        # prompts (event_processor) book in the fatigue budget, in the campaigns' user zone
        budget=root.fatigue_ledger(),
        caps=engagement.caps,
        zone_of=zone_of,
    )


@lru_cache(maxsize=1)
def nps_reports() -> NpsReportService:
    from nudge.services.nps.reports import NpsReportService

    return NpsReportService(survey_store(), root.CLOCK)


@lru_cache(maxsize=1)
def detractor_router() -> DetractorRouter:
    from nudge.adapters.webhooks import CheckedWebhookPoster, SnsTopics
    from nudge.models.webhook_targets import local_targets_allowed
    from nudge.services.nps.detractors import DetractorRouter

    settings = get_settings()

    def secret() -> str:
        if settings.detractor_secret:
            return settings.detractor_secret
        return root._secret(settings.detractor_secret_arn) if settings.detractor_secret_arn else ""

    local = local_targets_allowed()  # loopback targets and unsigned tickets: not in a Lambda
    return DetractorRouter(
        survey_store(),
        CheckedWebhookPoster(allow_local=local),
        root.CLOCK,
        lru_cache(maxsize=1)(secret),
        SnsTopics(),
        allow_unsigned=local,
    )


FENCE_CHECK_S = 30.0  # the fence index checks the published set versions at most this often


@lru_cache(maxsize=1)
def fence_objects() -> S3FenceObjects:
    from nudge.adapters.geofences import S3FenceObjects

    return S3FenceObjects(get_settings().configs_bucket)


@lru_cache(maxsize=1)
def fence_catalog() -> StoredFenceCatalog:
    """The FenceCatalog port: `fence_catalog().current_index()` -> FenceIndex | None, one
    index over every active fence set, rebuilt per container only when a set changes."""
    from nudge.adapters.geofences import StoredFenceCatalog

    return StoredFenceCatalog(root.config_store(), fence_objects(), root.CLOCK, FENCE_CHECK_S)


@lru_cache(maxsize=1)
def config_loader() -> ConfigLoader:
    """config_loader's dispatch: each kind of uploaded file to the service that loads it."""
    from nudge.adapters.configs import S3ConfigObjects
    from nudge.services.configs.loader import ConfigLoader

    campaigns = root.campaign_configs()
    return ConfigLoader(
        S3ConfigObjects(),
        {
            "campaign": campaigns,
            "segments": campaigns,
            "survey": survey_configs(),
            "geofences": fence_sets(),
        },
        root.config_store(),  # where an object refused by its size alone records why
        root.CLOCK,
    )


@lru_cache(maxsize=1)
def fence_sets() -> FenceSetService:
    from nudge.services.geofencing.fence_sets import FenceSetService

    return FenceSetService(root.config_store(), fence_objects(), root.CLOCK)
