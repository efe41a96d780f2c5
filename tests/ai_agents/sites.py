"""Fixture web sites for the audit tools, served by aiohttp on 127.0.0.1 (plain http or TLS).

A site is a `Routes` dict {path: handler}; `serve` runs one in the current event loop, and
`SiteServer` runs one in a thread of its own (for benchmarks or sync code):

    async with serve(crawl_site(pages=50)) as site:          # site.url == "http://127.0.0.1:PORT"
        pages = await crawl(site.url + "/", FetchPolicy(allow=("127.0.0.0/8",)))

    with SiteServer(crawl_site(pages=50)) as site:           # same, any thread / event loop
        ...

With `tls=True` the server presents a self-signed certificate for 127.0.0.1 and `site.client_ssl`
is an SSL context that trusts it (pass it to `make_client(policy, verify=site.client_ssl)`).
Ports are chosen by the kernel (port 0), so parallel servers never collide.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import ssl
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import TracebackType

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Routes = dict[str, Handler]
HTML = "text/html; charset=utf-8"


def html(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=body.encode(), status=status, headers={"Content-Type": HTML, **(headers or {})}
        )

    return handler


def raw(body: bytes | str, content_type: str = "text/plain", status: int = 200) -> Handler:
    data = body.encode() if isinstance(body, str) else body

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(body=data, status=status, headers={"Content-Type": content_type})

    return handler


def redirect(location: str | Callable[[web.Request], str], status: int = 302) -> Handler:
    """A redirect; `location` may be computed from the request (e.g. to name the server's port)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        target = location(request) if callable(location) else location
        return web.Response(status=status, headers={"Location": target})

    return handler


def slow(seconds: float) -> Handler:
    """Answers only after `seconds` (the server cancels the wait when the client hangs up)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.Response(text="<p>finally</p>", content_type="text/html")

    return handler


def page(title: str, body: str, head: str = "") -> str:
    return (
        f"<!doctype html><html lang='en'><head><title>{title}</title>{head}</head><body>{body}</body></html>"
    )


GOOD_LD = {
    "@context": "https://schema.org",
    "@graph": [
        {"@type": "WebSite", "name": "Acme Plumbing", "url": "https://127.0.0.1/"},
        {
            "@type": "Plumber",
            "name": "Acme Plumbing",
            "telephone": "+1 555-010-2000",
            "address": {
                "@type": "PostalAddress",
                "streetAddress": "12 Main St",
                "addressLocality": "Springfield",
                "addressRegion": "IL",
                "postalCode": "62701",
                "addressCountry": "US",
            },
            "sameAs": [
                "https://www.facebook.com/acmeplumbing",
                "https://www.linkedin.com/company/acme-plumbing",
            ],
        },
    ],
}
GOOD_HEAD = f"""
<meta name="description" content="Licensed plumbers in Springfield for emergency repairs, boiler service and bathroom fitting, 24/7.">
<link rel="canonical" href="https://127.0.0.1/good">
<link rel="alternate" hreflang="en" href="https://127.0.0.1/good">
<link rel="alternate" hreflang="en-GB" href="https://127.0.0.1/uk/good">
<link rel="alternate" hreflang="x-default" href="https://127.0.0.1/good">
<link rel="stylesheet" href="/static/site.css">
<meta property="og:title" content="Acme Plumbing"><meta property="og:description" content="Emergency plumbers">
<meta property="og:image" content="https://127.0.0.1/static/og.png"><meta name="twitter:card" content="summary">
<script type="application/ld+json">{json.dumps(GOOD_LD)}</script>
"""
GOOD_BODY = """
<h1>Emergency plumbers in Springfield</h1>
<p>Acme Plumbing fixes leaks, boilers and blocked drains the same day.</p>
<h2>Services</h2><h3>Boiler repair</h3><p>We service every make of boiler.</p>
<img src="/static/van.jpg" alt="Our van"> <img src="/static/divider.png" alt="">
<a href="/contact">Contact our Springfield team</a> <a href="https://www.instagram.com/acmeplumbing">Acme on Instagram</a>
<a href="https://www.facebook.com/sharer/sharer.php?u=x">Share on Facebook</a> <a name="bottom"></a>
<script src="/static/app.js"></script>
<address>12 Main St, Springfield, IL 62701, US</address> <a href="tel:+15550102000">Call +1 555 010 2000</a>
"""
GOOD_TITLE = "Acme Plumbing | Emergency Repairs in Springfield"
BROKEN_HEAD = """
<title> </title><meta name="description" content="">
<meta name="robots" content="noindex, nofollow">
<link rel="canonical" href="/broken"><link rel="canonical" href="https://elsewhere.example/broken">
<link rel="alternate" hreflang="english" href="https://127.0.0.1/en/broken">
<link rel="stylesheet" href="http://cdn.example/style.css">
<script type="application/ld+json">{"@context": "https://schema.org", "@type": "Organization",</script>
"""
BROKEN_BODY = """
<h1>Welcome</h1><h1>Hello again</h1><h4>Skipped levels</h4>
<a href="/somewhere">click here</a> <a href="javascript:void(0)">Menu</a> <a href="#">Top</a> <a>No target</a>
<img src="/static/logo.png"><img src="http://cdn.example/hero.jpg" alt="Hero"><iframe src="http://video.example/embed"></iframe>
<script src="http://cdn.example/app.js"></script>
"""
PADDING = "<!--" + "x" * 1_600_000 + "-->"  # the broken page weighs more than 1.5 MB
ROBOTS = "User-agent: *\nDisallow: /private/\n\nSitemap: {origin}/sitemap.xml\n"
SITEMAP = '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{origin}/good</loc></url></urlset>'


def robots_txt(text: str = ROBOTS) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text=text.format(origin=f"{request.scheme}://{request.host}"))

    return handler


def sitemap_xml() -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = SITEMAP.format(origin=f"{request.scheme}://{request.host}")
        return web.Response(text=body, content_type="application/xml")

    return handler


def seo_site(huge_bytes: int = 2_500_000, slow_seconds: float = 5.0) -> Routes:
    """The audit fixtures: /good passes every rule, /broken fails every rule (reach it through
    /chain/1, three redirects; over TLS for the https-only rules), plus noindex, huge, slow,
    robots-disallowed, NAP and SSRF-redirect pages."""
    good_headers = {"Strict-Transport-Security": "max-age=31536000"}
    return {
        "/robots.txt": robots_txt(),
        "/sitemap.xml": sitemap_xml(),
        "/good": html(page(GOOD_TITLE, GOOD_BODY, GOOD_HEAD), headers=good_headers),
        "/broken": html(
            f"<!doctype html><html><head>{BROKEN_HEAD}</head><body>{BROKEN_BODY}{PADDING}</body></html>", 404
        ),
        "/chain/1": redirect("/chain/2", 301),
        "/chain/2": redirect("/chain/3", 302),
        "/chain/3": redirect("/broken", 307),
        "/loop/a": redirect("/loop/b"),
        "/loop/b": redirect("/loop/a"),
        "/to-private": redirect("http://10.0.0.1/"),
        "/to-ipv6-loopback": redirect(lambda request: f"http://[::1]:{request.url.port}/good"),
        "/to-ftp": redirect("ftp://127.0.0.1/file"),
        "/noindex": html(
            page("Hidden page of the site for staff only", "<h1>Staff</h1>"),
            headers={"X-Robots-Tag": "noindex"},
        ),
        "/private/report": html(page("Private", "<h1>Private</h1>")),
        "/huge": html("<html><body>" + "a" * huge_bytes + "</body></html>"),
        "/slow": slow(slow_seconds),
        "/contact": html(
            page(
                "Contact",
                "<address>12 Main St, Springfield, IL 62701, US</address>"
                "<a href='tel:555-010-2000'>555-010-2000</a>",
            )
        ),
        "/old-contact": html(page("Old contact", "<a href='tel:(555) 010-9999'>Call us</a>")),
    }


def crawl_site(pages: int = 50, fanout: int = 2) -> Routes:
    """A site for crawlers: / links to /p/1, and /p/n to /p/n+1 .. /p/n+fanout, so breadth-first
    order is /, /p/1, /p/2, ... Every page also links to what a crawler must not keep: a path
    robots.txt disallows, an external site, mail and tel links, a fragment of itself and a PDF;
    the home page also links to this server under another host name (localhost)."""

    def page_body(n: int) -> str:
        onward = "".join(f'<a href="/p/{m}">Page {m}</a> ' for m in range(n + 1, min(n + fanout, pages) + 1))
        traps = (
            '<a href="/private/secret">Secret</a> <a href="https://example.org/">Example</a> '
            '<a href="mailto:hi@example.org">Mail</a> <a href="tel:+15550100">Call</a> '
            f'<a href="/p/{n}#top">Top</a> <a href="/files/brochure.pdf">Brochure</a>'
        )
        return f"<h1>Page {n}</h1><p>Content of page {n}.</p>{onward}{traps}"

    async def home(request: web.Request) -> web.StreamResponse:
        other = f"http://localhost:{request.url.port}/p/2"
        body = f'<a href="/p/1">Start</a> <a href="{other}">Same server, other host</a> <a href="/files/brochure.pdf">PDF</a>'
        return web.Response(text=page("Home", body), content_type="text/html")

    routes: Routes = {
        "/": home,
        "/robots.txt": robots_txt("User-agent: *\nDisallow: /private/\n"),
        "/private/secret": html(page("Secret", "<h1>Secret</h1>")),
        "/files/brochure.pdf": raw(b"%PDF-1.4 fixture", "application/pdf"),
    }
    for n in range(1, pages + 1):
        routes[f"/p/{n}"] = html(page(f"Page {n}", page_body(n)))
    return routes


@dataclass
class Served:
    """A running fixture site: its base URL (no trailing slash), port, client TLS trust, and every
    request it received as "host path" (e.g. "127.0.0.1:8080 /p/1"), to check crawlers on the wire."""

    url: str
    port: int
    client_ssl: ssl.SSLContext | None = None
    requests: list[str] = field(default_factory=list)

    def paths(self) -> list[str]:
        return [entry.split(" ", 1)[1] for entry in self.requests]


@lru_cache(maxsize=1)
def _certificate() -> tuple[str, str, bytes]:
    """A self-signed certificate for 127.0.0.1 and localhost: (cert file, key file, cert PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bizosaas fixture site")])
    now = datetime.datetime.now(datetime.UTC)
    san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = Path(tempfile.mkdtemp(prefix="bizosaas-sites-"))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (folder / "cert.pem").write_bytes(pem)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / "key.pem").write_bytes(key_pem)
    return str(folder / "cert.pem"), str(folder / "key.pem"), pem


def tls_contexts() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context that trusts the server) for the fixture certificate."""
    cert_file, key_file, pem = _certificate()
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=pem.decode())
    return server, client


@asynccontextmanager
async def serve(routes: Routes, *, tls: bool = False) -> AsyncIterator[Served]:
    """Serve `routes` on 127.0.0.1 in the running event loop until the block ends."""
    log: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        log.append(f"{request.host} {request.path_qs}")
        return await handler(request)

    app = web.Application(middlewares=[record])
    for path, handler in routes.items():
        app.router.add_route("GET", path, handler)
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0, access_log=None)
    await runner.setup()
    server_ssl, client_ssl = tls_contexts() if tls else (None, None)
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_ssl)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield Served(f"{'https' if tls else 'http'}://127.0.0.1:{port}", port, client_ssl, log)
    finally:
        await runner.cleanup()


class SiteServer:
    """`serve` in a background thread with its own event loop, as a context manager."""

    def __init__(self, routes: Routes, *, tls: bool = False) -> None:
        self._routes, self._tls = routes, tls
        self._ready = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.served: Served | None = None

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with serve(self._routes, tls=self._tls) as served:
            self.served = served
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> Served:
        self._thread.start()
        if not self._ready.wait(timeout=10) or self.served is None:
            raise RuntimeError("fixture site did not start")
        return self.served

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)
