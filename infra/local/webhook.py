"""A webhook receiver on loopback (a ticket system, a CRM): the demo's and the tests' target
for detractor routing. It records every POST and can fail the first ones, as a flaky
receiver would, to show the retries. Plain http on loopback is a webhook only outside a Lambda
(nudge.models.webhook_targets): in AWS it is refused, as is any non-public address."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


class WebhookReceiver:
    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[tuple[int, dict[str, str], dict[str, Any]]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                status = 503 if len(receiver.received) < fail_first else 200
                receiver.received.append((status, dict(self.headers.items()), body))
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tickets"

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """The bodies it accepted (once each, whatever the retries before)."""
        return [body for status, _, body in self.received if status < 300]

    def __enter__(self) -> WebhookReceiver:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.server.shutdown()
        self.server.server_close()
