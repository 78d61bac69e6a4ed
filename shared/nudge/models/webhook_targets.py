"""Where outbound webhooks (detractor tickets, ops alerts) may go.

In AWS a webhook must be https to a public host: the Lambda runtime API listens on loopback,
and link-local, private and other non-global addresses are the account's own network, never
a customer's ticket system. The local stack's receiver (nudge_local.webhook) listens on
loopback over http, so outside a Lambda (the local stack, the CLI's offline check, tests)
http and https to 127.0.0.1, ::1 and localhost are allowed too - nothing else.

Two checks: `check_url` when a config is validated (the URL as written), and
`check_addresses` right before connecting (each address the host name resolves to now, so a
name that later resolves to a private address - DNS rebinding - is refused at call time).
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from nudge.execution import running_in_lambda

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class RefusedTarget(ValueError):
    """A webhook URL or address not allowed here (the message says why)."""


def local_targets_allowed(environ: Mapping[str, str] = os.environ) -> bool:
    """Loopback targets are allowed outside a real Lambda only."""
    return not running_in_lambda(environ)


def _ip_literal(host: str) -> IPAddress | None:
    """The address a host written as an IP literal stands for, in any form the resolver takes
    (127.1, 2130706433 and 0x7f.1 are all 127.0.0.1 to getaddrinfo); None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def _public(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is not None:
            return _public(embedded)
        if ip.teredo is not None:
            return False
    return ip.is_global and not ip.is_multicast


def address_allowed(ip: IPAddress, local: bool) -> bool:
    return _public(ip) or (local and ip.is_loopback)


def check_url(url: str, local: bool) -> str:
    """The URL if a webhook may be sent there; raises RefusedTarget saying why not.
    `local`: loopback allowed (see local_targets_allowed)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
        parts.port  # noqa: B018 - raises ValueError on a port out of range
    except ValueError as error:
        raise RefusedTarget(f"webhook is not a valid URL: {error}") from None
    if not host:
        raise RefusedTarget("webhook must be an absolute URL with a host")
    if parts.username or parts.password:
        raise RefusedTarget("webhook must not embed credentials (user:password@)")
    if local and host in LOCAL_HOSTS and parts.scheme in ("http", "https"):
        return url
    if parts.scheme != "https":
        raise RefusedTarget(
            "webhook must use https (http only for 127.0.0.1 or localhost, in the local stack)"
        )
    if host == "localhost" or host.endswith(".localhost"):
        raise RefusedTarget(f"webhook host {host!r} is this machine (loopback)")
    ip = _ip_literal(host)
    if ip is not None and not address_allowed(ip, local):
        raise RefusedTarget(f"webhook host {host} is not a public address")
    return url


def check_addresses(host: str, addresses: Iterable[str], local: bool) -> list[str]:
    """The addresses `host` resolved to, if every one is allowed; raises RefusedTarget naming
    the first that is not (one bad answer is enough: the connection could go there)."""
    checked = []
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # fe80::1%eth0: scope id
        if not address_allowed(ip, local):
            raise RefusedTarget(f"webhook host {host} resolves to {ip}, not a public address")
        checked.append(address)
    if not checked:
        raise RefusedTarget(f"webhook host {host} resolves to no address")
    return checked
