"""Who a request comes from, for limits per client: the peer's address, or, when the peer is a trusted
balancer (CLIPWATCH_TRUSTED_PROXIES), the address it names in X-Forwarded-For.

The header is the client's own word unless a proxy we run wrote it, so it is read only from those, and
from right to left: the rightmost address that is not one of our proxies is the one that connected to
them (anything left of it could have been sent by the client itself)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=8)
def parse_networks(spec: str) -> tuple[Network, ...]:
    """'10.0.0.5, 10.1.0.0/16' -> networks; a bad entry raises ValueError naming it."""
    out = []
    for item in (part.strip() for part in spec.split(",")):
        if item:
            try:
                out.append(ipaddress.ip_network(item, strict=False))
            except ValueError as exc:
                raise ValueError(f"CLIPWATCH_TRUSTED_PROXIES: {item!r} is not an address or network") from exc
    return tuple(out)


def _trusted(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The address limits are counted against."""
    peer = peer or "unknown"
    if not forwarded_for or not trusted or not _trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop[:64]  # a client-chosen string otherwise: bounded, since it keys a table
    return peer


def request_client(request, trusted_spec: str) -> str:
    """client_address for a route's Request."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.get("x-forwarded-for"), parse_networks(trusted_spec))
