"""A local API Gateway (HTTP API, payload v2) for the template's routes.

Requests become genuine v2 events for the real handlers; mobile routes need a JWT signed by
the local dev key (401 otherwise), admin routes a SigV4 signature by the local admin
credential (403 otherwise). `/_local/...` controls the stack (clock, drain, queues);
`/_local/docs/` shows both OpenAPI documents (docs_ui.py); `/_local/oidc/` is the console's
dev sign-in (oidc_provider.py).
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
import uuid
from datetime import UTC, datetime
from functools import cached_property
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from nudge_local import docs_ui
from nudge_local.admin_roles import LOCAL_API_ID, AdminAccess
from nudge_local.auth import AuthError, verify_token
from nudge_local.oidc_provider import DevOidcProvider
from nudge_local.resources import ACCOUNT
from nudge_local.throttle import RouteThrottles

if TYPE_CHECKING:
    from nudge_local.stack import LocalStack

log = logging.getLogger("devstack.gateway")
MAX_PAYLOAD = 10 * 1024 * 1024  # API Gateway's own limit; functions enforce their own


def build_event(
    method: str,
    raw_path: str,
    query: str,
    headers: dict[str, str],
    body: bytes,
    route_key: str,
    path_params: dict[str, str],
    authorizer: dict[str, Any] | None,
) -> dict[str, Any]:
    lowered: dict[str, str] = {}
    for key, value in headers.items():
        k = key.lower()
        lowered[k] = f"{lowered[k]},{value}" if k in lowered else value
    try:
        text: str | None = body.decode("utf-8") if body else None
        encoded = False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode(), True
    now = datetime.now(UTC)
    query_params: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        query_params[key] = f"{query_params[key]},{value}" if key in query_params else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": LOCAL_API_ID,
            "domainName": lowered.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": encoded,
    }
    if "cookie" in lowered:
        event["cookies"] = [c.strip() for c in lowered["cookie"].split(";")]
    if query_params:
        event["queryStringParameters"] = query_params
    if path_params:
        event["pathParameters"] = path_params
    if text is not None:
        event["body"] = text
    if authorizer is not None:
        event["requestContext"]["authorizer"] = authorizer
    return event


class _Handler(BaseHTTPRequestHandler):
    server: _GatewayServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as separate writes: without this, Nagle's algorithm and the
        # client's delayed ACK add ~40 ms to every response on loopback.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s - %s", self.address_string(), format % args)

    if not TYPE_CHECKING:  # (typing keeps checking every other attribute)

        def __getattr__(self, name: str) -> Any:
            """`do_<METHOD>` for every method, whatever its name (TRACE, CONNECT, any
            token): http.server answers a method without one with an HTML 501; API Gateway
            matches it against the routes like any other (404 {"message":"Not Found"})."""
            if name.startswith("do_"):
                return self._dispatch
            raise AttributeError(name)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, headers too long): JSON with
        a message, as every other answer here, instead of its HTML page."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        self.send_response(code, message)
        body = json.dumps({"message": message or phrase}).encode()
        self.send_header("content-type", "application/json")
        self.send_header("connection", "close")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def _send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        cookies: list[str] | None = None,
    ) -> None:
        self.send_response(status)
        headers = headers or {"content-type": "application/json"}
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        for cookie in cookies or ():  # payload v2's `cookies`: one Set-Cookie line each
            self.send_header("set-cookie", cookie)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":  # its length, never its body
            self.wfile.write(body)

    def _json(self, status: int, payload: Any) -> None:
        self._send(status, json.dumps(payload).encode())

    def _dispatch(self) -> None:
        stack = self.server.stack
        try:
            length = int(self.headers.get("content-length") or 0)
        except ValueError:
            self._json(400, {"message": "Content-Length is not a number"})
            return
        if length < 0:
            self._json(400, {"message": "Content-Length is negative"})
            return
        if length > MAX_PAYLOAD:
            self._json(413, {"message": "Request Entity Too Large"})
            return
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        method = self.command.upper()
        if parts.path == "/_local/docs" or parts.path.startswith("/_local/docs/"):
            self._send(*docs_ui.serve(method, parts.path))  # Swagger UI, both API documents
            return
        if parts.path.startswith("/_local/oidc/"):  # the console's dev identity provider
            headers = {k: v for k, v in self.headers.items()}
            self._send(*self.server.oidc.handle(method, parts.path, parts.query, body, headers))
            return
        if parts.path.startswith("/_local/"):
            self._local(method, parts.path, body)
            return
        if parts.path == "/_fcm/inbox" and method == "GET":  # what the emulator delivered
            token = dict(parse_qsl(parts.query)).get("token")
            messages = stack.fcm.snapshot()["messages"]
            self._json(200, {"messages": [m for m in messages if token in (None, m.get("token"))]})
            return
        route, params = stack.match_route(method, parts.path)
        if route is None:
            self._json(404, {"message": "Not Found"})
            return
        if not self.server.throttles.admit(f"{route.method} {route.path}"):  # the template's
            self._json(429, {"message": "Too Many Requests"})
            return
        headers = {k: v for k, v in self.headers.items()}
        try:
            authorizer = self._authorize(route.auth, method, parts, headers, body)
        except AuthError as error:
            status = 401 if route.auth == "jwt" else 403
            log.info("rejected %s %s: %s", method, parts.path, error)
            self._json(status, {"message": "Unauthorized" if status == 401 else "Forbidden"})
            return
        event = build_event(
            method,
            parts.path,
            parts.query,
            headers,
            body,
            f"{route.method} {route.path}",
            params,
            authorizer,
        )
        started = time.perf_counter()
        try:
            result = stack.functions[route.function].invoke(event)
        except Exception:
            log.exception("function %s failed", route.function)
            self._json(500, {"message": "Internal Server Error"})
            return
        stack.record_latency(route.function, time.perf_counter() - started)
        self._respond(result)

    def _authorize(
        self, auth: str, method: str, parts: Any, headers: dict[str, str], body: bytes
    ) -> dict[str, Any] | None:
        stack = self.server.stack
        if auth == "none":
            return None
        if auth == "jwt":
            claims = verify_token(
                headers.get("Authorization") or headers.get("authorization"),
                stack.jwt_public_pem,
                stack.jwt_issuer,
                stack.jwt_audiences,
            )
            return {"jwt": {"claims": claims, "scopes": None}}
        url = f"http://{headers.get('Host', '')}{parts.path}" + (
            f"?{parts.query}" if parts.query else ""
        )
        # SigV4, then the caller's execute-api:Invoke on this route (admin_roles.py)
        return self.server.admin_access.authorize(method, parts.path, url, headers, body)

    def _respond(self, result: Any) -> None:
        if not isinstance(result, dict) or "statusCode" not in result:
            self._json(200, result)
            return
        body = result.get("body") or ""
        data = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
        headers = {k: str(v) for k, v in (result.get("headers") or {}).items()}
        for key, values in (result.get("multiValueHeaders") or {}).items():
            headers[key] = ",".join(values)
        if not any(key.lower() == "content-type" for key in headers):  # Powertools: Content-Type
            headers["content-type"] = "application/json"
        self._send(int(result["statusCode"]), data, headers, list(result.get("cookies") or ()))

    def _local(self, method: str, path: str, body: bytes) -> None:
        stack = self.server.stack
        try:
            payload = json.loads(body) if body else {}
        except (ValueError, RecursionError):
            self._json(400, {"message": "body is not valid JSON"})
            return
        if not isinstance(payload, dict):
            self._json(400, {"message": "body must be a JSON object"})
            return
        try:
            if path == "/_local/health":
                self._json(200, {"ok": True})
            elif path == "/_local/clock" and method == "GET":
                self._json(200, {"now": stack.clock.now().isoformat()})
            elif path == "/_local/clock" and method == "POST":
                self._json(
                    200, stack.move_clock(advance=payload.get("advance"), to=payload.get("set"))
                )
            elif path == "/_local/drain" and method == "POST":
                self._json(200, stack.drain(timeout_s=float(payload.get("timeout_s", 60))))
            elif path == "/_local/queues":
                self._json(200, stack.queue_depths())
            elif path == "/_local/stats":
                self._json(200, stack.stats())
            elif path == "/_local/fcm" and method == "GET":
                self._json(200, stack.fcm.snapshot())
            elif path == "/_local/fcm/faults" and method == "POST":
                # one token's scripted errors (answered with every token's), or a fraction
                configured = stack.fcm.configure(payload)
                self._json(200, configured if "rate" in payload else configured["faults"])
            else:
                self._json(404, {"message": f"no local endpoint {method} {path}"})
        except (ValueError, OverflowError) as error:
            self._json(400, {"message": str(error)})


class _GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    stack: LocalStack

    # read from the stack when a request first needs them (a docs-only server has no stack)
    @cached_property
    def throttles(self) -> RouteThrottles:
        return RouteThrottles.from_template(self.stack.spec.template)

    @cached_property
    def admin_access(self) -> AdminAccess:
        # the stack's callers, plus each function whose template role may invoke admin routes
        roles = getattr(self.stack, "function_roles", None)
        return AdminAccess.for_stack(self.stack.spec, self.stack.admin_credential, roles)

    @cached_property
    def oidc(self) -> DevOidcProvider:
        stack = self.stack
        return DevOidcProvider(
            f"http://{stack.host}:{stack.port}",
            stack.jwt_issuer,
            stack.jwt_private_key_path.read_bytes(),
            {str(stack.resolver.parameters.get("ConsoleClientId") or "")},
        )


def start_gateway(stack: LocalStack, host: str, port: int) -> _GatewayServer:
    """The gateway's server, bound and listening on return (port 0: any free port, then in
    `server.server_address`): it serves the socket it bound itself, never a number handed
    over (and maybe taken meanwhile)."""
    server = _GatewayServer((host, port), _Handler)
    server.stack = stack
    return server


__all__ = ["HTTPStatus", "build_event", "start_gateway"]
