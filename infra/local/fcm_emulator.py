"""An FCM v1 emulator on loopback HTTPS (a throwaway local CA), for firebase-admin's real traffic.

It records every message and can be told to answer a token with UNREGISTERED, QUOTA_EXCEEDED
(429 with Retry-After), UNAVAILABLE (503), INTERNAL (500) or INVALID_ARGUMENT, or to be slow;
or to fail a fraction of all sends (`inject_rate`: seeded, for chaos runs), 429 and 503 with a
Retry-After (the code's own `:seconds`, else RATE_RETRY_AFTER_S).
Like FCM it speaks HTTP/2 (ALPN h2, what `send_each_async` uses, many streams per connection)
and HTTP/1.1 (`send_each`): hypercorn serves a tiny ASGI app on its own event loop in a
thread, so latency is an `asyncio.sleep` per request and never holds up the others. It counts
the TCP connections it accepts (TLS handshakes), so a benchmark can say how many it used.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import socket
import ssl
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from hypercorn.asyncio import serve
from hypercorn.config import Config

from nudge_local.auth import write_secret

PROJECT_ID = "nudge-local"
_ERRORS = {
    "UNREGISTERED": (404, "NOT_FOUND", "UNREGISTERED"),
    "INVALID_ARGUMENT": (400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
    "QUOTA_EXCEEDED": (429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
    "UNAVAILABLE": (503, "UNAVAILABLE", "UNAVAILABLE"),
    "INTERNAL": (500, "INTERNAL", "INTERNAL"),
}
RATE_RETRY_AFTER_S = {"QUOTA_EXCEEDED": 30, "UNAVAILABLE": 10}  # fraction mode's default
_SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
# FCM's front end keeps connections open for long; the stack's push_sender keeps its pool
# between invocations, so idle connections are not closed under it (hypercorn's default is 5 s),
# nor after hypercorn's default of 1,000 requests (its GOAWAY then fails the streams in flight).
_KEEP_ALIVE_S = 600
_MAX_REQUESTS_PER_CONNECTION = 10**9

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
Reply = tuple[int, dict[str, Any], dict[str, str]]


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA (trustme) and a certificate for 127.0.0.1 and localhost signed by it:
    (ca.pem, cert.pem, key.pem). Nothing but the stack's FCM-using functions trusts the CA."""
    ca = trustme.CA(organization_name="nudge local CA")
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    paths = (directory / "fcm-ca.pem", directory / "fcm-cert.pem", directory / "fcm-key.pem")
    write_secret(paths[0], ca.cert_pem.bytes())
    write_secret(paths[1], b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    write_secret(paths[2], leaf.private_key_pem.bytes())
    return paths


def service_account(token_uri: str) -> str:
    """A throwaway service account. A non-Google universe makes google-auth sign its own
    access tokens, so nothing ever asks an OAuth server (or the internet) for one."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return json.dumps(
        {
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": "local",
            "private_key": pem.decode(),
            "client_email": f"nudge@{PROJECT_ID}.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": token_uri,
            "universe_domain": "emulator.local",
        }
    )


class _CountingConfig(Config):
    """hypercorn's config, whose TLS context reports every handshake: one per TCP connection
    (every connection is TLS; OpenSSL calls the SNI callback whether or not a name is sent)."""

    def __init__(self, on_handshake: Callable[[], None]) -> None:
        super().__init__()
        self._on_handshake = on_handshake

    def create_ssl_context(self) -> ssl.SSLContext | None:
        context = super().create_ssl_context()
        if context is not None:
            context.sni_callback = lambda *_: self._on_handshake()
        return context


class FcmEmulator:
    def __init__(self, host: str, port: int, state_dir: Path) -> None:
        self.messages: list[dict[str, Any]] = []
        self.faults: dict[str, list[str]] = {}  # token -> codes to answer, in order
        self.rate_faults: dict[str, Any] | None = None  # {"rate", "errors", "seed"}: any token
        self._rate_rng = random.Random(0)
        self.injected: Counter[str] = Counter()  # error answers given, by code
        self.latency_s = 0.0
        self.connections = 0  # TCP connections accepted (TLS handshakes started)
        self.requests: Counter[str] = Counter()  # by HTTP version: "2", "1.1"
        self._lock = threading.Lock()
        ca, cert, key = make_certificates(state_dir)
        self.ca_path = ca
        self._config = _CountingConfig(self._count_connection)
        self._config.certfile, self._config.keyfile = str(cert), str(key)
        self._config.keep_alive_timeout = _KEEP_ALIVE_S
        self._config.keep_alive_max_requests = _MAX_REQUESTS_PER_CONNECTION
        self._config.graceful_timeout = 1
        self._config.include_date_header = self._config.include_server_header = False
        self._config.errorlog = logging.getLogger("devstack.fcm")
        listener = socket.create_server((host, port))  # bound and listening now: no race
        self.url = f"https://{host}:{listener.getsockname()[1]}"
        self._config.bind = [f"fd://{listener.detach()}"]  # hypercorn owns the socket now
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=asyncio.run, args=(self._serve(),), daemon=True)
        self._thread.name = "fcm"
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("the FCM emulator did not start within 30 s")

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(timeout=5)

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        await serve(self._app, self._config, shutdown_trigger=self._stopping.wait)  # type: ignore[arg-type]

    def inject(self, token: str, codes: list[str], latency_ms: int | None = None) -> None:
        unknown = [c for c in codes if c.split(":")[0] not in _ERRORS]
        if unknown:
            raise ValueError(f"unknown FCM error {unknown[0]!r}; use one of {sorted(_ERRORS)}")
        with self._lock:
            self.faults[token] = list(codes)
            if latency_ms is not None:
                self.latency_s = latency_ms / 1000

    def inject_rate(
        self, rate: float, codes: list[str], seed: int = 0, latency_ms: int | None = None
    ) -> None:
        """Fail `rate` of every send (any token), with a code drawn from `codes` each time
        (e.g. ["QUOTA_EXCEEDED:30", "UNAVAILABLE"]); a token's scripted errors go first.
        A rate of 0 turns it off."""
        unknown = [c for c in codes if c.split(":")[0] not in _ERRORS]
        if unknown:
            raise ValueError(f"unknown FCM error {unknown[0]!r}; use one of {sorted(_ERRORS)}")
        if not 0 <= rate <= 1 or (rate and not codes):
            raise ValueError("give a rate between 0 and 1 and at least one error")
        with self._lock:
            self.rate_faults = {"rate": rate, "errors": list(codes), "seed": seed} if rate else None
            self._rate_rng = random.Random(seed)
            if latency_ms is not None:
                self.latency_s = latency_ms / 1000

    def configure(self, payload: dict[str, Any]) -> dict[str, Any]:
        """The fault API as JSON: {"token", "errors", "latency_ms"} scripts one token;
        {"rate", "errors", "seed", "latency_ms"} fails a fraction of every send."""
        codes = payload.get("errors", [])
        if not isinstance(codes, list):
            raise ValueError('"errors" is a list, e.g. ["QUOTA_EXCEEDED:30", "UNAVAILABLE"]')
        latency = payload.get("latency_ms")
        if "rate" in payload:
            self.inject_rate(
                float(payload["rate"]), [str(c) for c in codes], int(payload.get("seed", 0)),
                latency,
            )  # fmt: skip
        elif isinstance(payload.get("token"), str):
            self.inject(payload["token"], [str(c) for c in codes], latency)
        else:
            raise ValueError(
                'give {"token": "...", "errors": [...]} or {"rate": 0.2, "errors": [...]}'
            )
        with self._lock:
            return {"faults": dict(self.faults), "rate_faults": self.rate_faults}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "messages": list(self.messages),
                "faults": dict(self.faults),
                "rate_faults": self.rate_faults,
                "injected": dict(self.injected),
                **self._stats(),
            }

    def stats(self) -> dict[str, Any]:
        """Counters only (cheap): connections accepted, requests by HTTP version, messages."""
        with self._lock:
            return self._stats()

    def _stats(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "requests": dict(self.requests),
            "delivered": len(self.messages),
            "latency_ms": round(self.latency_s * 1000, 3),
        }

    def _count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    async def _answer(self, message: dict[str, Any]) -> Reply:
        if self.latency_s:
            await asyncio.sleep(self.latency_s)  # this request only: other streams go on
        with self._lock:
            queued = self.faults.get(message.get("token", ""), [])
            drawn = None
            rate = self.rate_faults
            if not queued and rate is not None and self._rate_rng.random() < rate["rate"]:
                drawn = self._rate_rng.choice(rate["errors"])
            if queued or drawn:
                code, _, retry_after = (queued.pop(0) if queued else str(drawn)).partition(":")
                if drawn and not retry_after and code in RATE_RETRY_AFTER_S:
                    retry_after = str(RATE_RETRY_AFTER_S[code])
                self.injected[code] += 1
                status, grpc, fcm_code = _ERRORS[code]
                headers = {"Retry-After": retry_after} if retry_after else {}
                body = {
                    "error": {
                        "code": status,
                        "message": code.lower(),
                        "status": grpc,
                        "details": [
                            {
                                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                                "errorCode": fcm_code,
                            }
                        ],
                    }
                }
                return status, body, headers
            self.messages.append(message)
            return 200, {"name": f"projects/{PROJECT_ID}/messages/{len(self.messages)}"}, {}

    async def _handle(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        if method != "POST":
            return 405, {"error": {"code": 405, "status": "METHOD_NOT_ALLOWED"}}, {}
        if path == "/token":
            return 200, {"access_token": "local", "expires_in": 3600}, {}
        if path == "/_local/faults":  # as the stack's POST /_local/fcm/faults, on the emulator
            try:
                return 200, self.configure(json.loads(raw or b"{}")), {}
            except (ValueError, TypeError, AttributeError) as error:
                return 400, {"error": {"code": 400, "message": str(error)}}, {}
        if not _SEND_PATH.match(path):
            return 404, {"error": {"code": 404, "status": "NOT_FOUND"}}, {}
        if not headers.get("authorization", "").startswith("Bearer "):
            return 401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}}, {}
        try:
            message = json.loads(raw)["message"]
        except (ValueError, KeyError, TypeError):
            return 400, {"error": {"code": 400, "status": "INVALID_ARGUMENT"}}, {}
        return await self._answer(message)

    async def _app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = await receive()
                if event["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                    self._ready.set()
                elif event["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        with self._lock:
            self.requests[scope["http_version"]] += 1
        chunks = []
        while True:
            event = await receive()
            if event["type"] == "http.disconnect":
                return
            chunks.append(event.get("body", b""))
            if not event.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        status, body, extra = await self._handle(
            scope["method"], scope["path"], headers, b"".join(chunks)
        )
        data = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(data)).encode()),
                    *((k.lower().encode(), v.encode()) for k, v in extra.items()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": data})
