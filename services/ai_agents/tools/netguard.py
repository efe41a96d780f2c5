"""The SSRF gate: which addresses a fetch may reach, and an HTTP client that connects only to those.

Audits fetch URLs that tenants type in, so a URL must never become a way into our own network
(a database on 10.x, the cloud metadata endpoint, a sidecar on loopback). A check of the URL text
is not enough: a public-looking hostname may resolve to a private address, and a second lookup at
connect time may answer differently than the first (DNS rebinding). So the check happens where the
socket is opened: `PinnedBackend` resolves the host itself, refuses the connection when ANY
resolved address is forbidden, and connects to one of the addresses it has just vetted. TLS still
runs against the URL's hostname (SNI and certificate checks are httpcore's, driven by the URL), so
https is pinned as tightly as http and there is no window between check and connect.

`vet_url` performs the same check up front, so that every redirect hop is refused with a clear
reason before a request is even built, also when a caller brings its own httpx client (such a
client is not pinned; a rebinding window remains for it, which is why `make_client` exists).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SCHEMES = ("http", "https")
METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254"))
SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT; Python's is_private misses it


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of one audit's fetching. `allow` names networks (CIDR) that may be fetched although
    private or loopback: tests serve fixture sites on 127.0.0.1; production leaves it empty."""

    timeout: float = 10
    max_bytes: int = 2_000_000
    max_redirects: int = 5
    user_agent: str = "BizOSaaS-Audit/1.0 (+https://bizosaas.dev/bot)"
    allow: tuple[str, ...] = ()


class FetchError(Exception):
    """A fetch that produced no page; `reason` is short and safe to show to a tenant."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class FetchRefused(FetchError):
    """The policy forbids the request (address, scheme, redirects), so it was never sent."""


class FetchFailed(FetchError):
    """The request was allowed but did not complete (timeout, DNS failure, connection error)."""


@lru_cache(maxsize=64)
def _networks(allow: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in allow)


def address_problem(address: str | IPAddress, allow: tuple[str, ...] = ()) -> str | None:
    """Why this address may not be fetched (None when it may). IPv4-mapped IPv6 addresses are judged
    by the IPv4 address they carry, so `::ffff:10.0.0.1` cannot sneak past the IPv4 rules."""
    ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip.version == net.version and ip in net for net in _networks(allow)):
        return None
    shown = str(ip)
    if ip in METADATA:
        return f"metadata address {shown}"
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.version == 4 and ip in SHARED, "shared"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
        (not ip.is_global, "non-global"),
    )
    for failed, label in checks:
        if failed:
            return f"{label} address {shown}"
    return None


async def resolve(host: str, port: int) -> list[str]:
    """All addresses of `host`, looked up in a worker thread (getaddrinfo blocks)."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed(f"cannot resolve {host}") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise FetchFailed(f"cannot resolve {host}")
    return addresses


async def vetted_addresses(host: str, port: int, allow: tuple[str, ...]) -> list[str]:
    """The resolved addresses, or FetchRefused naming the first forbidden one: one bad address is
    enough, since a resolver that returns it might hand it to the next connection."""
    addresses = await resolve(host, port)
    for address in addresses:
        problem = address_problem(address.split("%", 1)[0], allow)
        if problem:
            raise FetchRefused(problem)
    return addresses


def split_url(url: str | httpx.URL) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or FetchRefused for anything else."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise FetchRefused("invalid URL") from exc
    if parsed.scheme not in SCHEMES:
        raise FetchRefused(f"scheme {parsed.scheme or 'missing'}")
    if not parsed.host:
        raise FetchRefused("no host")
    return parsed.scheme, parsed.host, parsed.port or (443 if parsed.scheme == "https" else 80)


async def vet_url(url: str | httpx.URL, policy: FetchPolicy) -> None:
    """Refuse a URL whose scheme or resolved addresses the policy forbids."""
    _, host, port = split_url(url)
    await vetted_addresses(host, port, policy.allow)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to vetted addresses of the requested host (see module docstring)."""

    def __init__(self, allow: tuple[str, ...], inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._allow = allow
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await vetted_addresses(host, port, self._allow)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise FetchRefused("unix sockets are not fetched")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool rebuilt on `PinnedBackend`, never through a proxy
    (a proxy would connect on our behalf, out of the backend's sight)."""

    def __init__(self, policy: FetchPolicy, verify: ssl.SSLContext | bool = True) -> None:
        super().__init__(verify=verify, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=100,
            max_keepalive_connections=20,
            network_backend=PinnedBackend(policy.allow),
        )


def make_client(policy: FetchPolicy, *, verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """A client for `fetch`: pinned connections, no redirects of its own (each hop is vetted by the
    caller), no environment proxies. `verify` takes a context trusting a test CA."""
    return httpx.AsyncClient(
        transport=PinnedTransport(policy, verify),
        timeout=policy.timeout,
        follow_redirects=False,
        trust_env=False,
        headers={"user-agent": policy.user_agent},
    )
