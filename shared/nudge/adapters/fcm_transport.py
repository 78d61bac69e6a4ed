"""The HTTP/2 transport FirebaseSender gives firebase-admin (imported on the first send only:
httpx stays out of every cold start)."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import httpx


class LeastBusy(httpx.AsyncBaseTransport):
    """Several pools of one HTTP/2 connection each; a request goes to the least busy.

    httpx puts every request for an origin on one HTTP/2 connection and waits there for a
    free stream rather than opening a second connection, so more connections need more pools.
    Each connection's HPACK encoder gets a RememberingHuffman once the connection is up.
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
            response = await self._pools[index].handle_async_request(request)
        finally:
            self._busy[index] -= 1
        remember_huffman_coding(self._pools[index])  # a (possibly new) connection is up now
        return response

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


# Values at least this long have their Huffman coding remembered: the bearer token (~1 KB),
# not the short values (content-length, paths) that HPACK indexes or that change per request.
REMEMBERED_MIN_BYTES = 64


class RememberingHuffman:
    """hpack's Huffman coder, remembering the coding of the last long value it was given.

    h2 sends `authorization` never-indexed (RFC 7541 7.1.3: a secret stays out of the
    compression context), so HPACK puts the same ~1 KB bearer token as a literal into every
    request, and hpack Huffman-codes it again each time in pure Python: ~0.3 ms of CPU per
    message, a fifth of the sender's. Remembering the result changes no byte on the wire
    (the same never-indexed literal); a refreshed token is coded once and remembered instead.
    """

    def __init__(self, coder: Any) -> None:
        self._coder = coder
        self._value = b""
        self._coded = b""

    def encode(self, value: bytes | None) -> bytes:
        if value is None or len(value) < REMEMBERED_MIN_BYTES:
            return self._coder.encode(value)
        if value != self._value:
            self._coded = self._coder.encode(value)
            self._value = value
        return self._coded


def _hpack_encoders(transport: httpx.AsyncHTTPTransport) -> Iterator[Any]:
    """The HPACK encoders of a transport's HTTP/2 connections. This reaches into httpx's and
    httpcore's private attributes (no public way leads there): when a release renames them,
    nothing is found, sends go on unchanged at the old CPU cost, and tests/integration/
    test_fcm.py's Huffman test fails."""
    pool = getattr(transport, "_pool", None)
    for connection in getattr(pool, "connections", ()):
        h2_state = getattr(getattr(connection, "_connection", None), "_h2_state", None)
        encoder = getattr(h2_state, "encoder", None)
        if encoder is not None and hasattr(encoder, "huffman_coder"):
            yield encoder


def remember_huffman_coding(transport: httpx.AsyncHTTPTransport) -> None:
    for encoder in _hpack_encoders(transport):
        if not isinstance(encoder.huffman_coder, RememberingHuffman):
            encoder.huffman_coder = RememberingHuffman(encoder.huffman_coder)
