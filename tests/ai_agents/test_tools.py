"""The audit tools against real fixture sites on 127.0.0.1 (see `sites.py`): fetching and its SSRF
gate, robots.txt, crawling, every SEO rule, presence, email authentication and keywords."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import dns.asyncresolver
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import httpx
import pytest

from services.ai_agents.tools.fetch import (
    FetchFailed,
    FetchPolicy,
    FetchRefused,
    Page,
    RobotsRules,
    crawl,
    fetch,
    find_sitemap,
    make_client,
    normalise,
    robots,
)
from services.ai_agents.tools.keywords import analyse, flesch_reading_ease
from services.ai_agents.tools.netguard import address_problem
from services.ai_agents.tools.presence import email_auth, nap, same_as
from services.ai_agents.tools.seo import RULES, audit_page, site_score
from tests.ai_agents.sites import Served, SiteServer, crawl_site, raw, seo_site, serve

LOCAL = FetchPolicy(timeout=2, allow=("127.0.0.0/8",))


@pytest.fixture
async def plain() -> AsyncIterator[Served]:
    async with serve(seo_site()) as site:
        yield site


@pytest.fixture
async def tls() -> AsyncIterator[Served]:
    async with serve(seo_site(), tls=True) as site:
        yield site


@pytest.fixture
async def tls_client(tls: Served) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(LOCAL, verify=tls.client_ssl) as client:
        yield client


def closed_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- fetching ------------------------------------------------------------------------------------


async def test_fetch_records_every_redirect_hop(plain: Served) -> None:
    page = await fetch(plain.url + "/chain/1", LOCAL)
    assert page.url == plain.url + "/broken" and page.status == 404
    assert page.redirects == [
        (301, plain.url + "/chain/1"),
        (302, plain.url + "/chain/2"),
        (307, plain.url + "/chain/3"),
    ]
    assert page.headers["content-type"].startswith("text/html") and not page.truncated
    assert page.size == len(page.body) > 1_500_000


async def test_redirect_loops_and_long_chains_are_refused(plain: Served) -> None:
    with pytest.raises(FetchRefused) as loop:
        await fetch(plain.url + "/loop/a", LOCAL)
    assert loop.value.reason == "redirect loop"
    with pytest.raises(FetchRefused) as chain:
        await fetch(plain.url + "/chain/1", FetchPolicy(max_redirects=2, allow=LOCAL.allow))
    assert chain.value.reason == "too many redirects"
    assert "/broken" not in plain.paths()  # the third redirect was not followed


async def test_timeout_and_size_limit(plain: Served) -> None:
    with pytest.raises(FetchFailed) as slow:
        await fetch(plain.url + "/slow", FetchPolicy(timeout=0.3, allow=LOCAL.allow))
    assert slow.value.reason == "timeout"
    huge = await fetch(plain.url + "/huge", LOCAL)
    assert huge.truncated and len(huge.body) == LOCAL.max_bytes and huge.size > LOCAL.max_bytes
    small = await fetch(plain.url + "/good", FetchPolicy(max_bytes=100, allow=LOCAL.allow))
    assert small.truncated and len(small.body) == 100


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:{port}/good", "loopback address 127.0.0.1"),
        ("http://10.0.0.1/", "private address 10.0.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "metadata address 169.254.169.254"),
        ("http://[::1]:{port}/good", "loopback address ::1"),
        ("http://localhost:{port}/good", "loopback address"),
        ("ftp://127.0.0.1/file", "scheme ftp"),
        ("file:///etc/passwd", "scheme file"),
    ],
)
async def test_ssrf_refused_without_allow_list(plain: Served, url: str, reason: str) -> None:
    with pytest.raises(FetchRefused) as refused:
        await fetch(url.format(port=plain.port), FetchPolicy())
    assert refused.value.reason.startswith(reason)
    assert plain.requests == []  # refused before anything reached the server


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/to-private", "private address 10.0.0.1"),
        ("/to-ipv6-loopback", "loopback address ::1"),
        ("/to-ftp", "scheme ftp"),
    ],
)
async def test_redirect_to_a_forbidden_address_is_refused(plain: Served, path: str, reason: str) -> None:
    """Only the fixture's exact address is allowed; the hop it redirects to is vetted again."""
    with pytest.raises(FetchRefused) as refused:
        await fetch(plain.url + path, FetchPolicy(allow=("127.0.0.1/32",)))
    assert refused.value.reason == reason
    assert plain.paths() == [path]


async def test_pinned_client_refuses_at_connect_time(plain: Served) -> None:
    """The connection itself is gated, not just `fetch`'s pre-check: a lookup that changed its answer
    between check and connect (DNS rebinding) meets the same rule."""
    async with make_client(FetchPolicy()) as client:
        with pytest.raises(FetchRefused, match=r"loopback address 127\.0\.0\.1"):
            await client.get(f"http://localhost:{plain.port}/good")
    assert plain.requests == []


def test_address_rules() -> None:
    assert address_problem("100.64.0.1") == "shared address 100.64.0.1"
    assert address_problem("::ffff:10.0.0.1") == "private address 10.0.0.1"
    assert address_problem("fd00:ec2::254") == "metadata address fd00:ec2::254"
    assert address_problem("0.0.0.0") == "unspecified address 0.0.0.0"
    assert address_problem("fe80::1") == "link-local address fe80::1"
    assert address_problem("224.0.0.1") == "multicast address 224.0.0.1"
    assert address_problem("240.0.0.1") == "reserved address 240.0.0.1"
    assert address_problem("93.184.216.34") is None
    assert address_problem("10.1.2.3", ("10.0.0.0/8",)) is None
    assert address_problem("169.254.169.254", ("127.0.0.0/8",)) == "metadata address 169.254.169.254"


def test_normalise() -> None:
    assert normalise("HTTP://Example.COM:80/a#frag") == "http://example.com/a"
    assert normalise("https://example.com:443") == "https://example.com/"
    assert normalise("https://example.com:8443/a?b=1#x") == "https://example.com:8443/a?b=1"
    assert normalise("http://[::1]:80/") == "http://[::1]/"


# --- robots.txt ----------------------------------------------------------------------------------


async def test_robots_rules_of_the_fixture(plain: Served) -> None:
    rules = await robots(plain.url, LOCAL)
    assert rules.valid and rules.raw_status == 200 and rules.sitemaps == [plain.url + "/sitemap.xml"]
    assert rules.allowed(plain.url + "/good") and not rules.allowed(plain.url + "/private/report")
    assert await find_sitemap(plain.url, LOCAL, rules=rules) == plain.url + "/sitemap.xml"


async def test_robots_missing_broken_and_unreachable() -> None:
    async with serve({}) as empty, serve({"/robots.txt": raw("down", status=503)}) as down:
        missing = await robots(empty.url, LOCAL)
        assert missing.valid and missing.raw_status == 404 and missing.allowed(empty.url + "/anything")
        assert await find_sitemap(empty.url, LOCAL) is None
        failing = await robots(down.url, LOCAL)
        assert not failing.valid and failing.raw_status == 503 and not failing.allowed(down.url + "/")
    unreachable = await robots(f"http://127.0.0.1:{closed_port()}", LOCAL)
    assert not unreachable.valid and unreachable.raw_status is None and unreachable.error
    assert not unreachable.allowed(f"http://127.0.0.1:{closed_port()}/")


def test_robots_syntax_errors() -> None:
    rules = RobotsRules.from_text(
        "http://a", "bot", "Disallow: /x\nUser-agent: *\nNoise here\nSitemap: /map.xml\n"
    )
    assert not rules.valid
    assert rules.error == (
        "line 1: no user-agent specified; line 3: syntax not understood; line 4: invalid sitemap URL"
    )


# --- crawling ------------------------------------------------------------------------------------


async def test_crawl_visits_allowed_same_site_pages_in_discovery_order() -> None:
    with SiteServer(crawl_site(pages=50)) as site:  # the threaded server a benchmark uses
        pages = await crawl(site.url + "/", LOCAL, max_pages=100)
        bounded = await crawl(site.url + "/", LOCAL, max_pages=10, concurrency=2)
    full = [site.url + "/", *(f"{site.url}/p/{n}" for n in range(1, 51))]
    assert [page.url for page in pages] == full
    assert all(page.is_html and page.status == 200 for page in pages)
    assert not any("/private/" in entry or entry.startswith("localhost") for entry in site.requests)
    assert site.paths().count("/robots.txt") == 2  # once per crawl
    assert site.paths().count("/files/brochure.pdf") == 2  # fetched, recognised as non-HTML, skipped
    assert len(bounded) <= 10 and [p.url for p in bounded] == full[: len(bounded)]


async def test_crawl_start_url_disallowed_by_robots(plain: Served) -> None:
    assert await crawl(plain.url + "/private/report", LOCAL) == []


async def test_crawl_refuses_a_forbidden_start() -> None:
    with pytest.raises(FetchRefused, match="private address"):
        await crawl("http://10.0.0.1/", FetchPolicy())


# --- SEO -----------------------------------------------------------------------------------------


async def test_good_page_passes_every_rule(tls: Served, tls_client: httpx.AsyncClient) -> None:
    rules = await robots(tls.url, LOCAL, tls_client)
    sitemap = await find_sitemap(tls.url, LOCAL, tls_client, rules)
    page = await fetch(tls.url + "/good", LOCAL, tls_client)
    audit = audit_page(page, rules, sitemap_found=sitemap is not None)
    assert audit.findings == [] and audit.passed == list(RULES) and audit.not_applicable == []
    assert audit.score == 100


async def test_good_page_over_plain_http_fails_only_https(plain: Served) -> None:
    audit = audit_page(await fetch(plain.url + "/good", LOCAL), await robots(plain.url, LOCAL), True)
    assert [(f.rule, f.severity) for f in audit.findings] == [("https", "error")]
    assert audit.not_applicable == ["hsts", "mixed-content"] and audit.score == 85


EXPECTED_BROKEN = {
    "http-status": [("error", None)],
    "is-crawlable": [("error", '<meta name="robots" content="noindex, nofollow">'), ("error", None)],
    "document-title": [("error", None)],
    "meta-description": [("warning", None)],
    "link-text": [("warning", '<a href="/somewhere">click here</a>')],
    "crawlable-anchors": [
        ("warning", '<a href="javascript:void(0)">Menu</a>'),
        ("warning", '<a href="#">Top</a>'),
        ("warning", "<a>No target</a>"),
    ],
    "robots-txt": [("error", None)],
    "image-alt": [("warning", '<img src="/static/logo.png">')],
    "hreflang": [("warning", '<link rel="alternate" hreflang="english" href="https://127.0.0.1/en/broken">')],
    "canonical": [
        ("warning", '<link rel="canonical" href="https://elsewhere.example/broken">'),
        ("warning", '<link rel="canonical" href="/broken">'),
        ("warning", '<link rel="canonical" href="https://elsewhere.example/broken">'),
    ],
    "structured-data": [
        (
            "warning",
            '<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Organization",</script>',
        )
    ],
    "title-length": [("warning", None)],
    "description-length": [("warning", None)],
    "h1": [("warning", "<h1>Hello again</h1>")],
    "heading-order": [("warning", "<h4>Skipped levels</h4>")],
    "open-graph": [("info", None)],
    "twitter-card": [("info", None)],
    "sitemap": [("warning", None)],
    "hsts": [("warning", None)],
    "page-weight": [("warning", None)],
    "mixed-content": [
        ("error", '<img src="http://cdn.example/hero.jpg" alt="Hero">'),
        ("error", '<iframe src="http://video.example/embed"></iframe>'),
        ("error", '<script src="http://cdn.example/app.js"></script>'),
        ("error", '<link rel="stylesheet" href="http://cdn.example/style.css">'),
    ],
}


async def test_broken_page_fires_every_rule(
    plain: Served, tls: Served, tls_client: httpx.AsyncClient
) -> None:
    """Over TLS the broken page fails every rule but `https` (which only plain http can fail, and does
    below); its site's robots.txt answers 503, so crawling is disallowed and robots-txt fails too."""
    async with serve({"/robots.txt": raw("down", status=503)}) as down:
        broken_robots = await robots(down.url, LOCAL)
    page = await fetch(tls.url + "/chain/1", LOCAL, tls_client)
    audit = audit_page(page, broken_robots, sitemap_found=False)
    got = {rule: [(f.severity, f.element) for f in audit.by_rule(rule)] for rule in audit.rules_failed()}
    assert got.pop("redirect-chain") == [
        (
            "warning",
            f"{tls.url}/chain/1 (301) -> {tls.url}/chain/2 (302) -> {tls.url}/chain/3 (307) -> {tls.url}/broken",
        )
    ]
    assert got == EXPECTED_BROKEN
    assert audit.passed == ["https"] and audit.not_applicable == [] and audit.score == 0
    over_http = audit_page(await fetch(plain.url + "/broken", LOCAL))
    assert over_http.by_rule("https")[0].severity == "error"
    assert set(audit.rules_failed()) | set(over_http.rules_failed()) == set(RULES)
    assert all(len(f.element or "") <= 200 for f in audit.findings)


async def test_crawlability_weight_and_scores(plain: Served) -> None:
    rules = await robots(plain.url, LOCAL)
    noindex = audit_page(await fetch(plain.url + "/noindex", LOCAL), rules, True)
    assert [(f.rule, f.element) for f in noindex.by_rule("is-crawlable")] == [
        ("is-crawlable", "X-Robots-Tag: noindex")
    ]
    private = audit_page(await fetch(plain.url + "/private/report", LOCAL), rules, True)
    assert [f.message for f in private.by_rule("is-crawlable")] == ["robots.txt disallows this page"]
    huge = audit_page(await fetch(plain.url + "/huge", LOCAL))
    assert [(f.severity, f.message) for f in huge.by_rule("page-weight")] == [
        ("error", "page exceeds the 2000000-byte fetch limit")
    ]
    one_hop = audit_page(
        Page(
            url="https://a.example/", status=200, headers={}, body=b"", redirects=[(301, "http://a.example/")]
        )
    )
    assert "redirect-chain" in one_hop.passed
    assert (
        site_score([noindex, private]) == round((noindex.score + private.score) / 2) and site_score([]) == 0
    )


def test_named_anchors_and_valid_hreflang_pass() -> None:
    html = (
        '<a name="top"></a><a id="x"></a>'
        '<link rel="alternate" hreflang="zh-Hant-TW" href="https://a.example/tw">'
        '<link rel="alternate" hreflang="es-419" href="https://a.example/la">'
        '<link rel="alternate" hreflang="en_US" href="https://a.example/us">'
        '<link rel="alternate" hreflang="de" href="/de">'
    )
    audit = audit_page(Page(url="https://a.example/", status=200, headers={}, body=html.encode()))
    assert "crawlable-anchors" in audit.passed
    assert [f.message for f in audit.by_rule("hreflang")] == [
        "invalid language code 'en_US'",
        "hreflang href is not absolute",
    ]


# --- presence ------------------------------------------------------------------------------------


async def test_social_profiles_and_nap(plain: Served) -> None:
    good, contact, old = [
        await fetch(plain.url + path, LOCAL) for path in ("/good", "/contact", "/old-contact")
    ]
    assert same_as(good) == [
        "https://www.facebook.com/acmeplumbing",
        "https://www.linkedin.com/company/acme-plumbing",
        "https://www.instagram.com/acmeplumbing",
    ]
    agreeing = nap([good, contact], "Acme Plumbing")
    assert agreeing.consistent
    assert agreeing.variants == {
        "name": ["acme plumbing"],
        "address": ["12 main st springfield il 62701 us"],
        "phone": ["15550102000"],  # "+1 555-010-2000", "tel:+15550102000" and "tel:555-010-2000"
    }
    assert agreeing.pages[0].names == ["acme plumbing"] and agreeing.pages[1].phones == ["5550102000"]
    differing = nap([good, contact, old], "Acme Plumbing")
    assert not differing.consistent and differing.variants["phone"] == ["15550102000", "5550109999"]
    assert not nap([good], "Acme Plumbing Ltd").consistent


class TinyDNS(asyncio.DatagramProtocol):
    """A nameserver on 127.0.0.1 that knows one TXT record and answers NXDOMAIN for the rest."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        query = dns.message.from_wire(data)
        reply = dns.message.make_response(query)
        name = query.question[0].name.to_text()
        if name == "acme.test.":
            reply.answer.append(
                dns.rrset.from_text(name, 60, "IN", "TXT", '"v=spf1 include:_spf.acme.test ~all"')
            )
        else:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        self.transport.sendto(reply.to_wire(), addr)  # type: ignore[attr-defined]


async def test_email_auth_present_missing_and_not_checked() -> None:
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(TinyDNS, local_addr=("127.0.0.1", 0))
    try:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = ["127.0.0.1"], transport.get_extra_info("sockname")[1]
        found = await email_auth("acme.test", resolver_timeout=2, resolver=resolver)
    finally:
        transport.close()
    assert found == {
        "spf": {"status": "present", "record": "v=spf1 include:_spf.acme.test ~all"},
        "dmarc": {"status": "missing", "record": None},
    }
    nowhere = dns.asyncresolver.Resolver(configure=False)
    nowhere.nameservers, nowhere.port = ["127.0.0.1"], closed_port(socket.SOCK_DGRAM)
    result = await email_auth("example.com", resolver_timeout=0.3, resolver=nowhere)
    assert result == {
        "spf": {"status": "not_checked", "record": None},
        "dmarc": {"status": "not_checked", "record": None},
    }


# --- keywords ------------------------------------------------------------------------------------

ARTICLE = """<html><head><title>Coffee Beans Guide | Bean Shop</title><style>.coffee{}</style></head>
<body><h1>Choosing coffee beans</h1>
<p>Fresh coffee beans make better coffee.</p>
<p>We roast beans every day. Coffee beans lose flavour fast.</p>
<script>var coffee = "coffee beans coffee beans";</script><noscript>coffee beans</noscript></body></html>"""


def test_keyword_placement_and_density() -> None:
    report = analyse(
        ARTICLE, "https://shop.test/guides/coffee-beans.html", ["coffee beans", "roast", "espresso"]
    )
    # visible words: 3 (h1) + 6 + 5 + 5 = 19; script, style and noscript do not count
    assert report.word_count == 19
    phrase = report.get("coffee beans")
    assert (phrase.occurrences, phrase.density) == (3, 31.58)  # 3 x 2 words / 19 = 31.58 %
    assert phrase.in_title and phrase.in_h1 and phrase.in_first_paragraph and phrase.in_url
    roast = report.get("roast")
    assert (roast.occurrences, roast.density) == (1, 5.26)  # 1 / 19 = 5.26 %
    assert not (roast.in_title or roast.in_h1 or roast.in_first_paragraph or roast.in_url)
    assert report.get("espresso").occurrences == 0 and report.get("espresso").density == 0.0


def test_flesch_reading_ease() -> None:
    # 12 one-syllable words in 2 sentences: 206.835 - 1.015 * 6 - 84.6 * 1 = 116.1
    assert flesch_reading_ease("The cat sat on the mat. The dog ran to the park.") == 116.1
    plain_english = "We fix leaks fast. Call us any time, day or night, and a plumber will come to your home."
    assert 80 <= flesch_reading_ease(plain_english) <= 110
    dense = (
        "Comprehensive institutional accountability necessitates systematic organizational transformation."
    )
    assert flesch_reading_ease(dense) < 0
