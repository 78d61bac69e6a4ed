"""The console's configuration, from its function's environment (template.yaml)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ConsoleSettings:
    issuer: str
    client_id: str
    role_claim: str = "cognito:groups"
    discovery_url: str = ""  # empty: the issuer's own /.well-known/openid-configuration
    api_url: str = ""  # empty: https:// and the domain the request came in on

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ConsoleSettings:
        return cls(
            issuer=environ.get("NUDGE_CONSOLE_ISSUER", "").rstrip("/"),
            client_id=environ.get("NUDGE_CONSOLE_CLIENT_ID", ""),
            role_claim=environ.get("NUDGE_CONSOLE_ROLE_CLAIM") or "cognito:groups",
            discovery_url=environ.get("NUDGE_CONSOLE_OIDC_DISCOVERY_URL", ""),
            api_url=environ.get("NUDGE_CONSOLE_API_URL", "").rstrip("/"),
        )

    @property
    def configured(self) -> bool:
        return bool(self.issuer and self.client_id)

    @property
    def openid_configuration_url(self) -> str:
        return self.discovery_url or f"{self.issuer}/.well-known/openid-configuration"

    def admin_api_url(self, domain_name: str) -> str:
        return self.api_url or f"https://{domain_name}"
