"""Runtime settings, read once per cold start from the environment (see template.yaml).

A plain pydantic model over the `NUDGE_*` variables (names case-insensitive, unknown ones
ignored, NUDGE_ENGAGEMENT parsed as JSON): pydantic-settings did the same and cost every
handler's cold start ~30 ms of imports (dotenv, argparse, cloud secret providers)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nudge.domain.config import EngagementConfig
from nudge.execution import running_in_lambda

PREFIX = "NUDGE_"
# Set by the local stack (nudge_local.stack_environments) for its function processes, and
# never by template.yaml (tests/unit/test_local_only_settings.py checks): the one switch that
# lets the settings below take effect.
LOCAL_STACK_MARKER = "NUDGE_LOCAL_STACK"
# Emulator endpoints and inline secrets: harmless locally, dangerous in AWS (pushes sent to
# an arbitrary host, secrets in plain environment variables instead of Secrets Manager).
LOCAL_ONLY_SETTINGS = frozenset({"fcm_endpoint", "fcm_credentials_json", "detractor_secret"})

logger = logging.getLogger(__name__)


def running_in_local_stack(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the local stack says this process is one of its own: the marker is set and this
    is not a real Lambda, so a marker copied into a deployed function changes nothing."""
    return environ.get(LOCAL_STACK_MARKER) == "1" and not running_in_lambda(environ)


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    profiles_table: str = "nudge-profiles"
    history_table: str = "nudge-history"
    devices_table: str = "nudge-devices"
    delivery_table: str = "nudge-deliveries"
    templates_table: str = "nudge-templates"
    broadcasts_table: str = "nudge-broadcasts"
    configs_table: str = "nudge-configs"
    configs_bucket: str = ""  # published fence sets (published/geofences/...)
    broadcasts_queue_url: str = ""
    pushes_queue_url: str = ""
    scheduler_shards_queue_url: str = ""  # the tick's due buckets, for scheduler_worker
    fcm_project_id: str = ""
    fcm_credentials_secret: str = ""  # Secrets Manager id of the service-account JSON
    fcm_credentials_json: str = ""  # local stack only (LOCAL_ONLY_SETTINGS): the JSON itself
    fcm_endpoint: str = ""  # local stack only (LOCAL_ONLY_SETTINGS): the FCM emulator
    events_queue_url: str = ""
    surveys_table: str = "nudge-surveys"
    detractors_queue_url: str = ""
    detractor_secret_arn: str = ""  # Secrets Manager id of the webhook signing secret
    detractor_secret: str = ""  # local stack only (LOCAL_ONLY_SETTINGS): the secret itself
    # Auto-pause alerts (scheduler): an SNS topic and/or a webhook (https; http on loopback)
    alerts_topic_arn: str = ""
    alerts_webhook_url: str = ""
    # Per-user request limits of the mobile API, per minute (0 = none; docs/api.md#rate-limits):
    # POST /v1/events; and each of devices (PUT/DELETE), preferences (PUT) and survey answers
    # and dismissals (POST), counted apart.
    rate_limit_events_per_minute: int = Field(default=100, ge=0)
    rate_limit_writes_per_minute: int = Field(default=60, ge=0)
    # Lifecycle thresholds, interest mapping, purchase events: JSON in NUDGE_ENGAGEMENT.
    engagement: EngagementConfig = Field(default_factory=EngagementConfig)

    @field_validator("engagement", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        values = {
            name[len(PREFIX) :].lower(): value
            for name, value in environ.items()
            if name.upper().startswith(PREFIX)
        }
        ignored = sorted(LOCAL_ONLY_SETTINGS & {k for k, v in values.items() if v})
        if ignored and not running_in_local_stack(environ):
            logger.warning(
                "ignoring local-stack-only settings outside the local stack: %s",
                ", ".join(PREFIX + name.upper() for name in ignored),
            )
            values = {k: v for k, v in values.items() if k not in LOCAL_ONLY_SETTINGS}
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environment()
