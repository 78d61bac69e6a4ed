"""The local stack's AWS: moto's WSGI app, sped up (moto_speedups), behind granian.

`python -m nudge_local.moto_server HOST PORT`. moto's own server is Werkzeug's development
server, which closes the connection after every answer: a TCP connection and a thread for
each of the stack's tens of thousands of requests. granian (HTTP in Rust, keep-alive) cut
moto's CPU in a 5-day demo run from 28 s to 20 s.
"""

from __future__ import annotations

import sys

import moto.backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from nudge_local import moto_speedups

# moto routes each request by listing its own package directory: once is enough
_MODULES = tuple(moto.backends.list_of_moto_modules())
moto.backends.list_of_moto_modules = lambda: _MODULES
moto_speedups.install()

app = DomainDispatcherApplication(create_backend_app)


def main(argv: list[str]) -> None:
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
