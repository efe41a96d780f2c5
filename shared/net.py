"""The caller's address behind proxies: one rule for the gateway and user_management.

`X-Forwarded-For` is a list that each proxy appends to, so only its right end is written by
proxies we run; everything to the left of the first untrusted hop may be forged by the client.
We read every `X-Forwarded-For` line (a client can send two, and taking only one of them would
let it pick its own key), join them in order, and walk from the right past trusted proxies.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=64)
def parse_trusted(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """Addresses (`10.0.0.7`) or ranges (`10.0.0.0/8`) of proxies whose headers we believe."""
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries if entry.strip())


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def forwarded_chain(header_lines: Iterable[str]) -> list[str]:
    """All hops of every `X-Forwarded-For` line, left to right, blanks dropped."""
    return [hop.strip() for line in header_lines for hop in line.split(",") if hop.strip()]


def client_address(
    peer: str | None, forwarded_for: Iterable[str], trusted_proxies: Iterable[str]
) -> str | None:
    """The first address, from the right, that is not a trusted proxy; the peer when it is not
    trusted itself. When every hop is trusted, the leftmost one is the best we know."""
    trusted = parse_trusted(tuple(trusted_proxies))
    if peer is None or not _is_trusted(peer, trusted):
        return peer
    chain = forwarded_chain(forwarded_for)
    for hop in reversed(chain):
        if not _is_trusted(hop, trusted):
            return hop
    return chain[0] if chain else peer
