"""Whose code the CPU goes to, by sampling: every INTERVAL_S of the process's CPU (ITIMER_PROF)
the running Python frame's file is looked up in LAYERS. Sampling costs well under 1 % and,
unlike cProfile, does not inflate code that makes many small calls (httpx, h2, asyncio) more
than a tight loop (hpack's Huffman coder), so the shares stay true to the unprofiled run.
C functions (json, ssl, socket calls) count towards the Python code that called them."""

from __future__ import annotations

import signal
from collections import Counter
from types import FrameType, TracebackType
from typing import Any

INTERVAL_S = 0.0005
# (a part of the file's path, its layer): first match wins, so the specific ones come first
LAYERS = (
    ("/tests/fakes/", "fakes"),  # in-memory stand-ins for DynamoDB and FCM: not the sender's
    ("/nudge/", "Nudge"),
    ("/firebase_admin/", "firebase-admin"),
    ("/google/", "firebase-admin"),  # google-auth, as firebase-admin uses it
    ("/hpack/huffman", "hpack Huffman"),
    ("/httpx/", "httpx/httpcore"),
    ("/httpcore/", "httpx/httpcore"),
    ("/anyio/", "httpx/httpcore"),
    ("/sniffio/", "httpx/httpcore"),
    ("/h2/", "h2/hpack"),
    ("/hpack/", "h2/hpack"),
    ("/hyperframe/", "h2/hpack"),
    ("/asyncio/", "asyncio/ssl"),
    ("/ssl.py", "asyncio/ssl"),
    ("/selectors.py", "asyncio/ssl"),
)
ORDER = (
    "Nudge",
    "firebase-admin",
    "httpx/httpcore",
    "h2/hpack",
    "hpack Huffman",
    "asyncio/ssl",
    "other",
    "fakes",
)


class LayerSampler:
    """`with LayerSampler() as s: ...`, then `s.per_item_ms(cpu_s, items)`."""

    def __init__(self) -> None:
        self.samples: Counter[str] = Counter()
        self._layer_of: dict[str, str] = {}
        self._previous: Any = None

    def _sample(self, signum: int, frame: FrameType | None) -> None:
        path = frame.f_code.co_filename if frame is not None else ""
        layer = self._layer_of.get(path)
        if layer is None:
            layer = next((name for part, name in LAYERS if part in path), "other")
            self._layer_of[path] = layer
        self.samples[layer] += 1

    def __enter__(self) -> LayerSampler:
        self._previous = signal.signal(signal.SIGPROF, self._sample)
        signal.setitimer(signal.ITIMER_PROF, INTERVAL_S, INTERVAL_S)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        signal.setitimer(signal.ITIMER_PROF, 0, 0)
        signal.signal(signal.SIGPROF, self._previous)

    def per_item_ms(self, cpu_s: float, items: int) -> dict[str, float]:
        """The measured CPU per item, in ms, shared out as the samples fell."""
        total = sum(self.samples.values()) or 1
        return {
            layer: cpu_s * self.samples[layer] / total / items * 1000
            for layer in ORDER
            if self.samples[layer]
        }


def describe(shares: dict[str, float]) -> str:
    return ", ".join(f"{layer} {ms:.2f}" for layer, ms in shares.items())
