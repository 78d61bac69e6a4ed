"""The HTTP/2 transport FirebaseSender gives firebase-admin (imported on the first send only:
httpx stays out of every cold start)."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import httpx


class LeastBusy(httpx.AsyncBaseTransport):
    """Several pools of one HTTP/2 connection each; a request goes to the least busy.

    httpx puts every request for an origin on one HTTP/2 connection and waits there for a
    free stream rather than opening a second connection, so more connections need more pools.
    """

    def __init__(self, connections: int) -> None:
        self._pools = [
            httpx.AsyncHTTPTransport(
                http2=True,
                retries=1,  # failed connects only (httpcore): the request was never sent
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )
            for _ in range(connections)
        ]
        self._busy = [0] * connections

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        index = min(range(len(self._pools)), key=self._busy.__getitem__)
        self._busy[index] += 1
        try:
            # busy until the response's headers are in: its body follows at once
            return await self._pools[index].handle_async_request(request)
        finally:
            self._busy[index] -= 1

    async def aclose(self) -> None:
        for pool in self._pools:
            await pool.aclose()


class CachedCredentialAuth(httpx.Auth):
    """Google credentials as an httpx auth, with the headers kept while the token is valid.

    firebase-admin's own flow builds a `requests` session and asks google-auth for headers on
    every request; at hundreds of requests per call that is a noticeable share of the CPU.
    A 401 still forces a refresh and one more try, as the SDK's flow does.
    """

    def __init__(self, credential: Any) -> None:
        self._credential = credential
        self._headers: dict[str, str] = {}

    def _refresh_headers(self, request: httpx.Request, force: bool = False) -> None:
        from google.auth.transport.requests import Request

        auth_request = Request()
        if force:
            self._credential.refresh(auth_request)
        headers: dict[str, str] = {}
        self._credential.before_request(auth_request, request.method, str(request.url), headers)
        self._headers = headers

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self._headers or not self._credential.valid:
            self._refresh_headers(request)
        request.headers.update(self._headers)
        response = yield request
        if response.status_code == 401:
            self._refresh_headers(request, force=True)
            request.headers.update(self._headers)
            yield request
