"""Per-user rate limits on the mobile API's writes: the check a route makes first, the 429
it answers, and how the OpenAPI document describes it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from nudge import runtime
from nudge.api.http import error_response
from nudge.services.ratelimit import RateLimited

TOO_MANY_REQUESTS: dict[int, OpenAPIResponse] = {
    429: {
        "description": (
            "Over the caller's per-user limit for this kind of request this minute: nothing "
            "was stored or queued; retry after `Retry-After` seconds"
        ),
        "headers": {
            "Retry-After": {
                "description": "Seconds until the next window opens",
                "schema": {"type": "integer", "minimum": 1},
            }
        },
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "statusCode": {"type": "integer"},
                        "message": {"type": "string"},
                    },
                    "required": ["message"],
                }
            }
        },
    }
}


def limit(user_id: str, scope: str) -> None:
    """Count this request against the user's limit; RateLimited (-> 429) when over. Call it
    before the route stores or queues anything."""
    runtime.rate_limiter().check(user_id, scope)


def answer_429(router: APIGatewayHttpRouter) -> None:
    """Register the 429 answer on a router (the app inherits its exception handlers)."""

    @router.exception_handler(RateLimited)
    def _too_many(error: RateLimited) -> Response[Any]:
        response = error_response(429, str(error))
        response.headers["Retry-After"] = str(error.retry_after)
        return response
