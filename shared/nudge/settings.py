"""Runtime settings, read once per cold start from the environment (see template.yaml).

A plain pydantic model over the `NUDGE_*` variables (names case-insensitive, unknown ones
ignored, NUDGE_ENGAGEMENT parsed as JSON): pydantic-settings did the same and cost every
handler's cold start ~30 ms of imports (dotenv, argparse, cloud secret providers)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from nudge.domain.config import EngagementConfig

PREFIX = "NUDGE_"


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
    fcm_project_id: str = ""
    fcm_credentials_secret: str = ""  # Secrets Manager id of the service-account JSON
    fcm_credentials_json: str = ""  # local stack only: the JSON itself
    fcm_endpoint: str = ""  # local stack only: the FCM emulator
    events_queue_url: str = ""
    surveys_table: str = "nudge-surveys"
    detractors_queue_url: str = ""
    detractor_secret_arn: str = ""  # Secrets Manager id of the webhook signing secret
    detractor_secret: str = ""  # local stack / tests only: the secret itself
    # Auto-pause alerts (scheduler): an SNS topic and/or a webhook (https; http on loopback)
    alerts_topic_arn: str = ""
    alerts_webhook_url: str = ""
    # Lifecycle thresholds, interest mapping, purchase events: JSON in NUDGE_ENGAGEMENT.
    engagement: EngagementConfig = Field(default_factory=EngagementConfig)

    @field_validator("engagement", mode="before")
    @classmethod
    def _json(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> Settings:
        return cls.model_validate(
            {
                name[len(PREFIX) :].lower(): value
                for name, value in environ.items()
                if name.upper().startswith(PREFIX)
            }
        )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environment()
