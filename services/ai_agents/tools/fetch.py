"""SSRF-safe page fetching, robots.txt and same-site crawling for the audit tools.

The address rules and the pinned client live in `netguard` (re-exported here); this module adds
what an audit needs on top: redirects followed by hand so that every hop is vetted and recorded,
a byte cap that reads at most `max_bytes` (decoded, so a compression bomb is capped too), one
deadline per hop that also stops servers that drip bytes, robots.txt read the way Google reads it,
and a deterministic breadth-first crawl.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx
from selectolax.lexbor import LexborHTMLParser

from services.ai_agents.tools.netguard import (
    FetchError,
    FetchFailed,
    FetchPolicy,
    FetchRefused,
    make_client,
    vet_url,
)
from services.ai_agents.tools.robots_txt import RobotsRules

__all__ = [
    "FetchError",
    "FetchFailed",
    "FetchPolicy",
    "FetchRefused",
    "Page",
    "RobotsRules",
    "crawl",
    "fetch",
    "find_sitemap",
    "make_client",
    "normalise",
    "robots",
]

log = logging.getLogger(__name__)

REDIRECTS = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = ("text/html", "application/xhtml+xml")
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass
class Page:
    """One fetched URL. `redirects` holds (status, url) of every hop that redirected, in order, so the
    whole chain is `[url for _, url in redirects] + [page.url]`. `size` counts the decoded body bytes
    received before reading stopped; a `truncated` page was larger than the policy's max_bytes."""

    url: str
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool = False
    redirects: list[tuple[int, str]] = field(default_factory=list)
    elapsed: float = 0.0
    size: int = 0

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def is_html(self) -> bool:
        return self.content_type in HTML_TYPES

    def text(self) -> str:
        """The body as text, in the charset the server declared (UTF-8 otherwise)."""
        charset = "utf-8"
        for param in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = param.partition("=")
            if key.strip().lower() == "charset" and value.strip():
                charset = value.strip().strip('"')
        try:
            return self.body.decode(charset, errors="replace")
        except LookupError:
            return self.body.decode("utf-8", errors="replace")


def normalise(url: str) -> str:
    """One spelling per page: scheme and host lower-case, default port and fragment dropped, empty
    path as `/`. Two links that differ only in these reach the same page and must be crawled once."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError:
        port = None
    netloc = host if port in (None, DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def _key(url: str) -> str:
    try:
        return normalise(url)
    except ValueError as exc:  # e.g. an unclosed IPv6 bracket in a Location header
        raise FetchRefused("invalid URL") from exc


async def _read(response: httpx.Response, limit: int) -> tuple[bytes, bool, int]:
    chunks: list[bytes] = []
    received = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        received += len(chunk)
        if received > limit:
            return b"".join(chunks)[:limit], True, received
    return b"".join(chunks), False, received


async def _hop(client: httpx.AsyncClient, url: str, policy: FetchPolicy, html_only: bool) -> Page:
    request = client.build_request("GET", url, headers={"user-agent": policy.user_agent})
    response = await client.send(request, stream=True)
    try:
        headers = {key.lower(): value for key, value in response.headers.items()}
        page = Page(url=str(response.url), status=response.status_code, headers=headers, body=b"")
        if response.status_code in REDIRECTS or (html_only and not page.is_html):
            return page
        page.body, page.truncated, page.size = await _read(response, policy.max_bytes)
        return page
    finally:
        await response.aclose()


async def fetch(
    url: str, policy: FetchPolicy, client: httpx.AsyncClient | None = None, *, html_only: bool = False
) -> Page:
    """GET `url` within `policy`, following redirects by hand. Raises FetchRefused (policy) or
    FetchFailed (timeout, network). With `html_only`, a non-HTML body is not downloaded at all.
    Pass a client from `make_client` to reuse connections; any other client is not pinned."""
    own = client is None
    active = make_client(policy) if client is None else client
    started = time.monotonic()
    redirects: list[tuple[int, str]] = []
    seen: set[str] = set()
    try:
        while True:
            key = _key(url)
            if key in seen:
                raise FetchRefused("redirect loop")
            seen.add(key)
            try:
                async with asyncio.timeout(policy.timeout):  # one deadline per hop, DNS included
                    await vet_url(url, policy)
                    page = await _hop(active, url, policy, html_only)
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise FetchFailed("timeout") from exc
            except httpx.HTTPError as exc:
                raise FetchFailed(f"network error: {type(exc).__name__}") from exc
            location = page.headers.get("location")
            if page.status not in REDIRECTS or not location:
                page.redirects, page.elapsed = redirects, time.monotonic() - started
                return page
            redirects.append((page.status, page.url))
            url = urljoin(page.url, location)
            if len(redirects) > policy.max_redirects:
                raise FetchRefused("too many redirects")
    finally:
        if own:
            await active.aclose()


def origin_of(url: str) -> str:
    parts = urlsplit(normalise(url))
    return f"{parts.scheme}://{parts.netloc}"


async def robots(origin: str, policy: FetchPolicy, client: httpx.AsyncClient | None = None) -> RobotsRules:
    """The robots.txt rules of `origin` (scheme://host[:port]). As Google: 4xx means no rules,
    429 and 5xx mean "stay away" until the file can be read."""
    origin = origin_of(origin)
    try:
        page = await fetch(f"{origin}/robots.txt", policy, client)
    except FetchError as exc:
        return RobotsRules(origin, policy.user_agent, None, valid=False, error=exc.reason, disallow_all=True)
    if page.status >= 500 or page.status == 429:
        error = f"robots.txt answered {page.status}"
        return RobotsRules(
            origin, policy.user_agent, page.status, valid=False, error=error, disallow_all=True
        )
    if page.status >= 400:
        return RobotsRules(origin, policy.user_agent, page.status, allow_all=True)
    return RobotsRules.from_text(origin, policy.user_agent, page.text(), page.status)


async def find_sitemap(
    origin: str,
    policy: FetchPolicy,
    client: httpx.AsyncClient | None = None,
    rules: RobotsRules | None = None,
) -> str | None:
    """The first sitemap that answers 200: those robots.txt names, then /sitemap.xml."""
    candidates = [*(rules.sitemaps if rules else []), f"{origin_of(origin)}/sitemap.xml"]
    for url in dict.fromkeys(candidates):
        try:
            if (await fetch(url, policy, client)).status == 200:
                return url
        except FetchError:
            continue
    return None


def links(page: Page) -> list[str]:
    """Absolute http(s) targets of the page's `<a href>`, in document order, honouring `<base>`."""
    tree = LexborHTMLParser(page.text())
    base_node = tree.css_first("base[href]")
    base = urljoin(page.url, base_node.attributes.get("href") or "") if base_node else page.url
    found: list[str] = []
    for anchor in tree.css("a[href]"):
        href = (anchor.attributes.get("href") or "").strip()
        target = urljoin(base, href) if href else ""
        if urlsplit(target).scheme in ("http", "https"):
            found.append(normalise(target))
    return found


def same_site(url: str, start_host: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return host == start_host or host.endswith("." + start_host)


async def crawl(start_url: str, policy: FetchPolicy, max_pages: int = 50, concurrency: int = 8) -> list[Page]:
    """HTML pages of the start URL's site, breadth first, in the order their URLs were discovered.

    The crawl goes level by level so that the pages chosen under `max_pages` (a bound on requests,
    non-HTML answers included) do not depend on which response came back first. Each origin's
    robots.txt is honoured; failed fetches are logged and skipped. A start URL the policy forbids
    raises FetchRefused; when the start page redirects, the site is the host it lands on.
    """
    await vet_url(start_url, policy)  # a forbidden start is an error, not an empty site
    start = normalise(start_url)
    start_host = (urlsplit(start).hostname or "").lower()
    semaphore = asyncio.Semaphore(concurrency)
    rules: dict[str, RobotsRules] = {}
    pages: list[Page] = []
    seen: set[str] = {start}
    frontier = [start]
    budget = max_pages
    async with make_client(policy) as client:

        async def allowed(url: str) -> bool:
            origin = origin_of(url)
            if origin not in rules:
                rules[origin] = await robots(origin, policy, client)
            return rules[origin].allowed(url)

        async def visit(url: str) -> Page | None:
            async with semaphore:
                try:
                    return await fetch(url, policy, client, html_only=True)
                except FetchError as exc:
                    log.info("crawl skipped %s: %s", url, exc.reason)
                    return None

        while frontier and budget > 0:
            level = [url for url in frontier if await allowed(url)][:budget]
            budget -= len(level)
            results = await asyncio.gather(*(visit(url) for url in level))
            if results and results[0] is not None and level[0] == start:
                # the site lives where its home page redirects to (example.com -> www.example.com)
                start_host = (urlsplit(results[0].url).hostname or start_host).lower()
            frontier = []
            for page in _html_pages(results, start_host, seen):
                pages.append(page)
                for link in links(page):
                    if link not in seen and same_site(link, start_host):
                        seen.add(link)
                        frontier.append(link)
    return pages


def _html_pages(results: Iterable[Page | None], start_host: str, seen: set[str]) -> list[Page]:
    """Fetched pages worth keeping: HTML, still on the site after redirects, not a duplicate."""
    kept = []
    for page in results:
        if page is None or not page.is_html or not same_site(page.url, start_host):
            continue
        final = normalise(page.url)
        if page.redirects and final in seen:
            continue
        seen.add(final)
        kept.append(page)
    return kept
