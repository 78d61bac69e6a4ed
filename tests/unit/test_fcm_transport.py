"""The pieces FirebaseSender gives firebase-admin's httpx client, over a mock transport."""

from __future__ import annotations

import asyncio
from typing import Any

import hpack
import httpx

from nudge.adapters.fcm_transport import CachedCredentialAuth, RememberingHuffman


class StubCredential:
    """google-auth's shape: `valid`, `refresh(request)`, `before_request(...)`."""

    def __init__(self) -> None:
        self.token = 1
        self.valid = True
        self.header_builds = 0

    def refresh(self, request: Any) -> None:
        self.token += 1

    def before_request(self, request: Any, method: str, url: str, headers: dict[str, str]) -> None:
        self.header_builds += 1
        headers["authorization"] = f"Bearer {self.token}"


def test_auth_headers_are_kept_while_valid_and_a_401_refreshes_once() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(401 if request.headers["authorization"] == "Bearer 1" else 200)

    credential = StubCredential()

    async def run() -> list[int]:
        async with httpx.AsyncClient(
            transport=httpx.MockTransport(answer), auth=CachedCredentialAuth(credential)
        ) as client:
            return [(await client.post("https://fcm.test/send")).status_code for _ in range(3)]

    assert asyncio.run(run()) == [200, 200, 200]
    assert seen == ["Bearer 1", "Bearer 2", "Bearer 2", "Bearer 2"]
    assert credential.header_builds == 2  # once at first, once after the 401: not per request
    credential.valid = False  # expired: rebuilt before the next request
    assert asyncio.run(run()) == [200, 200, 200]
    assert credential.header_builds == 5


def test_the_remembered_huffman_coding_puts_the_same_bytes_on_the_wire() -> None:
    """HPACK blocks as h2 sends them (authorization never indexed), with and without it."""
    plain, remembering = hpack.Encoder(), hpack.Encoder()
    coder = remembering.huffman_coder
    calls: list[bytes] = []

    class Counting:
        def encode(self, value: bytes | None) -> bytes:
            calls.append(value or b"")
            return coder.encode(value)

    remembering.huffman_coder = RememberingHuffman(Counting())
    tokens = [b"Bearer " + b"a1-" * 300] * 3 + [b"Bearer " + b"b2_" * 300] * 2
    for length, token in enumerate(tokens):
        headers = [
            (b":method", b"POST"),
            (b"content-length", str(100 + length).encode()),
            hpack.NeverIndexedHeaderTuple(b"authorization", token),
        ]
        assert remembering.encode(headers) == plain.encode(headers)
    assert [c for c in calls if c.startswith(b"Bearer")] == [tokens[0], tokens[3]]  # per token
    assert len([c for c in calls if c.startswith(b"1")]) == 5  # short values: coded each time
