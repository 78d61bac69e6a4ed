"""AWS clients, created once per cold start and only when first needed (cheap cold starts).

boto3 honours AWS_ENDPOINT_URL, which is how the embedded local stack points every
client at its moto server without any code path that exists only for tests.
"""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def client(service: str) -> Any:
    import boto3  # deferred: only functions that talk to AWS pay for it
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=2,
        read_timeout=5,
        tcp_keepalive=True,
    )
    return boto3.session.Session().client(service, config=config)  # type: ignore[call-overload]
