"""The local stack's AWS: moto's WSGI app, sped up (moto_speedups), behind granian.

`python -m nudge_local.moto_server --fd N` serves a listening socket its parent bound and
passed down (the stack: no port is ever picked, released and bound again, so none is shared);
`HOST PORT` binds one itself (0: any free port) and prints it. moto's own server is
Werkzeug's development server, which closes the connection after every answer: a TCP
connection and a thread for each of the stack's tens of thousands of requests. granian
(HTTP in Rust, keep-alive) cut moto's CPU in a 5-day demo run from 28 s to 20 s.

DynamoDB and SQS requests (JSON, named by their X-Amz-Target) go straight to moto's handler
for the service, as moto's Flask view does: a fifth of moto's time went to finding the
backend by host pattern and to Flask's request and response machinery. Everything else
(S3, the moto API) takes moto's own way.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable, Iterable
from typing import Any

import moto.backends
from botocore.exceptions import ClientError
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import (
    BackendRequest,
    DomainDispatcherApplication,
    create_backend_app,
)
from moto.sqs.responses import SQSResponse
from werkzeug.wrappers import Response

from nudge_local import moto_speedups

# moto routes each request by listing its own package directory: once is enough
_MODULES = tuple(moto.backends.list_of_moto_modules())
moto.backends.list_of_moto_modules = lambda: _MODULES
moto_speedups.install()

dispatcher = DomainDispatcherApplication(create_backend_app)
# X-Amz-Target prefix -> the handler moto's Flask view calls (its urls.py)
FAST_LANE: dict[str, Callable[..., Any]] = {
    "DynamoDB_20120810": DynamoHandler.dispatch,
    "AmazonSQS": SQSResponse().dispatch,
}
FAST_LANE_HEADER = "x-nudge-fast-lane"  # on its answers, so tests can tell the lanes apart


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    handler = FAST_LANE.get(target.partition(".")[0]) if target else None
    if handler is None or environ.get("REQUEST_METHOD") != "POST":
        return dispatcher(environ, start_response)
    request = BackendRequest(environ)
    try:  # what moto.core.utils.convert_to_flask_response does around the handler
        result = handler(request, request.raw_url, dict(request.headers))
    except ClientError as error:
        result = 400, {}, error.response["Error"]["Message"]
    status, headers, body = result if len(result) == 3 else (200, {}, result)
    response = Response(response=body, status=status, headers=headers)
    response.headers[FAST_LANE_HEADER] = "1"
    return response(environ, start_response)


def main(argv: list[str]) -> None:
    """`--fd N`: serve a listening socket the caller bound (and passed down); `HOST PORT`: bind
    one here (port 0 for any free port) and print `listening on http://HOST:PORT` first."""
    import multiprocessing

    from granian._granian import SocketHolder
    from granian.constants import Interfaces
    from granian.server import MPServer

    if argv[0] == "--fd":
        listener = socket.socket(fileno=int(argv[1]))
    else:
        listener = socket.create_server((argv[0], int(argv[1])), backlog=1024)
        host, port = listener.getsockname()[:2]
        print(f"listening on http://{host}:{port}", flush=True)

    class BoundServer(MPServer):
        """granian on the socket bound above: it never binds (nor races for) a port itself.
        Its worker process inherits the socket (fork; granian's own Linux path would build a
        new SO_REUSEPORT socket in the worker from the address)."""

        def _init_shared_socket(self) -> None:
            self._ssp = None
            self._shd = SocketHolder(listener.fileno(), False, self.backlog)  # type: ignore[call-arg,assignment]
            self._sfd = listener.fileno()  # type: ignore[assignment]
            listener.set_inheritable(True)
            self._sso = listener

    multiprocessing.set_start_method("fork", force=True)  # the worker inherits the socket
    # one worker process holds moto's state; one thread keeps moto's models free of races
    BoundServer(
        "nudge_local.moto_server:app",
        interface=Interfaces.WSGI,
        workers=1,
        blocking_threads=1,
        log_enabled=False,
    ).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
