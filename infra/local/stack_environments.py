"""Each function's environment in the local stack: the template's variables, and for the
functions that talk to FCM the emulator, its CA and the service account in Secrets Manager;
and the detractor webhook signing secret (Secrets Manager too); and for the functions that
call the admin API (the console) their role's local credential and the dev sign-in."""

from __future__ import annotations

import secrets
from typing import Any

from nudge.settings import LOCAL_STACK_MARKER
from nudge_local.admin_roles import function_credential
from nudge_local.auth import AdminCredential
from nudge_local.fcm_emulator import PROJECT_ID, FcmEmulator, service_account
from nudge_local.resources import Resolver
from nudge_local.template import StackSpec

FCM_SECRET_NAME = "nudge-local/fcm-service-account"  # noqa: S105 - a name, not a secret
DETRACTOR_SECRET_NAME = "nudge-local/detractor-webhook"  # noqa: S105 - a name, not a secret
# Every function process of the local stack says so: local-only settings (nudge.settings
# LOCAL_ONLY_SETTINGS, such as the FCM emulator's endpoint) take effect only with it.
LOCAL_STACK_ENVIRONMENT = {LOCAL_STACK_MARKER: "1"}


def create_fcm_secret(secretsmanager: Any, fcm: FcmEmulator) -> str:
    """The emulator's service account as a Secrets Manager secret, as an operator creates it
    before deploying (docs/deploy.md): its full ARN is the FcmCredentialsSecretArn parameter,
    so push_sender reads its credentials the way it does in AWS (GetSecretValue, its role)."""
    secret = secretsmanager.create_secret(
        Name=FCM_SECRET_NAME, SecretString=service_account(f"{fcm.url}/token")
    )
    return str(secret["ARN"])


def create_detractor_secret(secretsmanager: Any) -> str:
    """A generated webhook signing secret, as an operator creates one (docs/deploy.md): its ARN
    is the DetractorWebhookSecretArn parameter, so surveys with a webhook publish and their
    tickets are signed locally as in AWS."""
    secret = secretsmanager.create_secret(
        Name=DETRACTOR_SECRET_NAME, SecretString=secrets.token_urlsafe(32)
    )
    return str(secret["ARN"])


def fcm_environment(fcm: FcmEmulator) -> dict[str, str]:
    """For functions that talk to FCM: the emulator, trusted through its CA. Only their
    processes get the CA (httpx reads SSL_CERT_FILE, requests REQUESTS_CA_BUNDLE): never the
    stack's own environment, nor any other function's. Credentials come from the template's
    NUDGE_FCM_CREDENTIALS_SECRET (create_fcm_secret), not from here. The emulator endpoint is
    a local-only setting: it needs the local stack's marker to take effect."""
    return {
        **LOCAL_STACK_ENVIRONMENT,
        "NUDGE_FCM_PROJECT_ID": PROJECT_ID,
        "NUDGE_FCM_ENDPOINT": fcm.url,
        "REQUESTS_CA_BUNDLE": str(fcm.ca_path),
        "SSL_CERT_FILE": str(fcm.ca_path),
    }


def function_environments(
    spec: StackSpec, resolver: Resolver, base_env: dict[str, str], fcm_env: dict[str, str]
) -> dict[str, dict[str, str]]:
    """Each function's environment: the template's variables over `base_env`, plus `fcm_env`
    for the functions whose template declares NUDGE_FCM_PROJECT_ID, plus the local stack's
    marker (LOCAL_STACK_ENVIRONMENT)."""
    environments = {}
    for name, function in spec.functions.items():
        env = {k: str(v) for k, v in resolver.resolve(function.environment).items()}
        if "NUDGE_FCM_PROJECT_ID" in env:
            env.update(fcm_env)
        environments[name] = {**base_env, **env, **LOCAL_STACK_ENVIRONMENT}
    return environments


def add_api_callers(
    environments: dict[str, dict[str, str]],
    invoking: list[str],
    admin: AdminCredential,
    gateway_url: str,
) -> None:
    """Each function in `invoking` (its role may call execute-api) signs with its role's local
    credential, as Lambda hands a function its role's keys; the gateway knows it
    (admin_roles.AdminAccess). Their AWS calls still reach moto (any key will do) and are
    checked against the role by the process's identity (aws_guard), not by this key. The
    console (NUDGE_CONSOLE_CLIENT_ID in its template variables) also gets the gateway as its
    admin API and the dev OIDC provider (oidc_provider.py) for its sign-in."""
    for name in invoking:
        env = environments[name]
        credential = function_credential(admin, name)
        env["AWS_ACCESS_KEY_ID"] = credential.access_key
        env["AWS_SECRET_ACCESS_KEY"] = credential.secret_key
        env.pop("AWS_SESSION_TOKEN", None)
    for env in environments.values():
        if "NUDGE_CONSOLE_CLIENT_ID" in env:
            discovery = f"{gateway_url}/_local/oidc/.well-known/openid-configuration"
            env["NUDGE_CONSOLE_OIDC_DISCOVERY_URL"] = discovery
            env["NUDGE_CONSOLE_API_URL"] = gateway_url
