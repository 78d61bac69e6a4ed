"""The local stack's AWS: moto's WSGI app, sped up (moto_speedups), behind granian.

`python -m nudge_local.moto_server HOST PORT` (port 0: any free port, held from the moment
granian binds it; the stack reads which from the kernel, so no port is ever picked, released
and bound again). (Handing granian a socket bound by the parent instead made every request
~10x slower: 17 ms against 1.7 for a GetItem.) moto's own server is
Werkzeug's development server, which closes the connection after every answer: a TCP
connection and a thread for each of the stack's tens of thousands of requests. granian
(HTTP in Rust, keep-alive) cut moto's CPU in a 5-day demo run from 28 s to 20 s.

DynamoDB and SQS requests (JSON, named by their X-Amz-Target) go straight to moto's handler
for the service, as moto's Flask view does: a fifth of moto's time went to finding the
backend by host pattern and to Flask's request and response machinery. Everything else
(S3, the moto API) takes moto's own way.
"""

from __future__ import annotations

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
    """`HOST PORT`: granian binds it itself (port 0: any free port, which the stack reads from
    the kernel: see stack_processes.launch_moto)."""
    from granian.constants import Interfaces
    from granian.server import Server

    host, port = argv[0], int(argv[1])
    # one worker process holds moto's state; one thread keeps moto's models free of races
    Server(
        "nudge_local.moto_server:app",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=1,
        blocking_threads=1,
        log_enabled=False,
    ).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
