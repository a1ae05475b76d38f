"""Who the client is: its address as the server saw it, or, behind a trusted proxy, the
address the proxy says it forwarded for. Every per-address limit (connections, throttles)
keys on this, so a load balancer's own address never stands for all its clients, and a
client can never pick its address by sending the header itself.

Trust is explicit: only a request whose peer address is in ``TRUSTED_PROXIES`` (addresses or
networks) has its ``X-Forwarded-For`` read, from the right, skipping further trusted hops;
``manage.py serve --proxy-headers`` trusts the loopback proxy when the setting is empty.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def _networks(spec: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def trusted_networks() -> tuple[Network, ...]:
    return _networks(tuple(settings.TRUSTED_PROXIES))


def _trusted(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def resolve(peer: str, forwarded_for: str | None) -> str:
    """The client's address from the TCP peer and the X-Forwarded-For header (if any)."""
    networks = trusted_networks()
    if not forwarded_for or not networks or not _trusted(peer, networks):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):  # the rightmost hop was added by the proxy we trust
        if not _trusted(hop, networks):
            try:
                return str(ipaddress.ip_address(hop))
            except ValueError:
                return peer  # garbage in the header: the peer is all we know
    return hops[0] if hops else peer


def request_address(request: HttpRequest) -> str:
    return resolve(request.META.get("REMOTE_ADDR", ""), request.headers.get("X-Forwarded-For"))


def scope_address(scope: dict[str, Any]) -> str:
    """The same for an ASGI scope (a WebSocket handshake)."""
    client = scope.get("client") or ("", 0)
    header = next((v for k, v in scope.get("headers", ()) if k == b"x-forwarded-for"), None)
    return resolve(str(client[0]), header.decode("latin-1") if header is not None else None)
