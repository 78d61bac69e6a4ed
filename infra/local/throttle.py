"""API Gateway's route throttling, read from template.yaml, for the local gateway.

The HTTP API's `DefaultRouteSettings` give every route a token bucket (ThrottlingRateLimit
tokens a second, at most ThrottlingBurstLimit held); `RouteSettings` - on the API keyed by route
key, or on a function's HttpApi event - override them for one route. A request that finds its
bucket empty is answered 429 `{"message":"Too Many Requests"}` before any authorizer or
function runs, as API Gateway does. Buckets run on wall-clock time (monotonic), never on the
stack's virtual clock: throttling is about real requests per second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Throttle:
    rate: float  # tokens added per second
    burst: int  # bucket size

    @classmethod
    def of(cls, settings: Mapping[str, Any] | None, fallback: Throttle | None) -> Throttle | None:
        """The throttle of RouteSettings (a value missing or not a plain number, e.g. a
        `!Ref`, falls back to `fallback`'s)."""
        settings = settings or {}
        rate, burst = settings.get("ThrottlingRateLimit"), settings.get("ThrottlingBurstLimit")
        if not isinstance(rate, int | float) or isinstance(rate, bool):
            rate = fallback.rate if fallback else None
        if not isinstance(burst, int) or isinstance(burst, bool):
            burst = fallback.burst if fallback else None
        if rate is None or burst is None:
            return None
        return cls(float(rate), int(burst))


def route_throttles(template: Mapping[str, Any]) -> tuple[Throttle | None, dict[str, Throttle]]:
    """(default, route key -> its own) from the template's HttpApi and HttpApi events."""
    resources = template.get("Resources", {})
    apis = [
        r.get("Properties", {})
        for r in resources.values()
        if r.get("Type") == "AWS::Serverless::HttpApi"
    ]
    api = apis[0] if apis else {}
    default = Throttle.of(api.get("DefaultRouteSettings"), None)
    routes: dict[str, Throttle] = {}
    for key, settings in (api.get("RouteSettings") or {}).items():
        if (found := Throttle.of(settings, default)) is not None:
            routes[str(key)] = found
    for resource in resources.values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event in resource.get("Properties", {}).get("Events", {}).values():
            props = event.get("Properties", {})
            if event.get("Type") == "HttpApi" and props.get("RouteSettings"):
                key = f"{props['Method'].upper()} {props['Path']}"
                if (found := Throttle.of(props["RouteSettings"], default)) is not None:
                    routes[key] = found
    return default, routes


@dataclass
class TokenBucket:
    throttle: Throttle
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.throttle.burst)
        self.updated = self.clock()

    def take(self) -> bool:
        now = self.clock()
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(float(self.throttle.burst), self.tokens + elapsed * self.throttle.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class RouteThrottles:
    """One bucket per route key, made on its first request (thread-safe: the gateway serves
    each connection on its own thread)."""

    def __init__(
        self,
        default: Throttle | None,
        routes: Mapping[str, Throttle],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.default = default
        self.routes = dict(routes)
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_template(
        cls, template: Mapping[str, Any], clock: Callable[[], float] = time.monotonic
    ) -> RouteThrottles:
        default, routes = route_throttles(template)
        return cls(default, routes, clock)

    def admit(self, route_key: str) -> bool:
        """Whether a request to `route_key` goes through now (False: answer 429)."""
        throttle = self.routes.get(route_key, self.default)
        if throttle is None:
            return True
        with self._lock:
            bucket = self._buckets.get(route_key)
            if bucket is None:
                bucket = self._buckets[route_key] = TokenBucket(throttle, self.clock)
            return bucket.take()
