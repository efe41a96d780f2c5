"""The on-page SEO rules of Lighthouse's SEO audits, one function each (`seo_checks` has the extras).

A rule takes the `Context` of one page and returns its findings: an empty list when the page
passes, None when the rule does not apply (HSTS on plain http, robots.txt when none was read), so
that "not applicable" never reads as "passed" in a report.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from services.ai_agents.tools.fetch import Page, RobotsRules
from services.ai_agents.tools.markup import json_ld, snippet, text_of

Severity = Literal["error", "warning", "info"]
GENERIC_LINK_TEXT = frozenset(
    {
        "click here",
        "click this",
        "here",
        "read more",
        "more",
        "learn more",
        "go",
        "start",
        "this",
        "link",
        "right here",
    }
)
LANGUAGES = (
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de "
    "dv dz ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id "
    "ie ig ii ik io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu "
    "lv mg mh mi mk ml mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu "
    "rm rn ro ru rw sa sc sd se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr "
    "ts tt tw ty ug uk ur uz ve vi vo wa wo xh yi yo za zh zu"
)
ISO_639_1 = frozenset(LANGUAGES.split())


@dataclass(frozen=True)
class Finding:
    """One problem on one page; `element` points at the offending markup (≤ 200 characters)."""

    rule: str
    severity: Severity
    message: str
    element: str | None = None


@dataclass
class Context:
    """What the rules look at: the page, its parsed DOM and what is known about the site."""

    page: Page
    tree: LexborHTMLParser
    robots: RobotsRules | None = None
    sitemap_found: bool | None = None

    @property
    def https(self) -> bool:
        return urlsplit(self.page.url).scheme == "https"

    def meta(self, key: str, attribute: str = "name") -> str | None:
        for node in self.tree.css(f"meta[{attribute}]"):
            if (node.attributes.get(attribute) or "").strip().lower() == key:
                return (node.attributes.get("content") or "").strip()
        return None

    def links(self, rel: str) -> list[LexborNode]:
        return [
            n for n in self.tree.css("link[rel]") if rel in (n.attributes.get("rel") or "").lower().split()
        ]


Rule = Callable[[Context], list[Finding] | None]


def http_status(ctx: Context) -> list[Finding]:
    if ctx.page.status >= 400:
        return [Finding("http-status", "error", f"page answered HTTP {ctx.page.status}")]
    return []


def _noindex(value: str) -> bool:
    directives = {part.strip().lower() for part in value.replace(";", ",").split(",")}
    directives |= {d.split(":", 1)[1].strip() for d in directives if ":" in d}
    return bool(directives & {"noindex", "none"})


def is_crawlable(ctx: Context) -> list[Finding]:
    found = []
    for node in ctx.tree.css("meta[name]"):
        if (node.attributes.get("name") or "").lower() in ("robots", "googlebot") and _noindex(
            node.attributes.get("content") or ""
        ):
            found.append(Finding("is-crawlable", "error", "page is blocked from indexing", snippet(node)))
    header = ctx.page.headers.get("x-robots-tag")
    if header and _noindex(header):
        found.append(
            Finding("is-crawlable", "error", "X-Robots-Tag blocks indexing", f"X-Robots-Tag: {header}")
        )
    if ctx.robots is not None and not ctx.robots.allowed(ctx.page.url):
        found.append(Finding("is-crawlable", "error", "robots.txt disallows this page"))
    return found


def document_title(ctx: Context) -> list[Finding]:
    if not text_of(ctx.tree.css_first("title")):
        return [Finding("document-title", "error", "page has no <title>")]
    return []


def meta_description(ctx: Context) -> list[Finding]:
    if not ctx.meta("description"):
        return [Finding("meta-description", "warning", "page has no meta description")]
    return []


def link_text(ctx: Context) -> list[Finding]:
    return [
        Finding("link-text", "warning", "link text does not describe its target", snippet(a))
        for a in ctx.tree.css("a[href]")
        if text_of(a).lower().strip(" .!?:»>→") in GENERIC_LINK_TEXT
    ]


def crawlable_anchors(ctx: Context) -> list[Finding]:
    found = []
    for a in ctx.tree.css("a"):
        href = a.attributes.get("href")
        target = (href or "").strip().lower()
        if href is None and ("name" in a.attributes or "id" in a.attributes):
            continue  # a named anchor is a jump target, not a link
        if href is None or target in ("", "#") or target.startswith("javascript:"):
            found.append(Finding("crawlable-anchors", "warning", "link a crawler cannot follow", snippet(a)))
    return found


def robots_txt(ctx: Context) -> list[Finding] | None:
    if ctx.robots is None:
        return None
    if not ctx.robots.valid:
        return [Finding("robots-txt", "error", f"robots.txt is not valid: {ctx.robots.error}")]
    return []


def image_alt(ctx: Context) -> list[Finding]:
    return [
        Finding("image-alt", "warning", "image has no alt attribute", snippet(img))
        for img in ctx.tree.css("img")
        if "alt" not in img.attributes
    ]


def valid_hreflang(code: str) -> bool:
    """BCP 47 as Google reads hreflang: an ISO 639-1 language, then optionally a script (4 letters)
    and a region (ISO 3166 alpha-2 or UN M.49 digits); `x-default` names the fallback page."""
    if code.lower() == "x-default":
        return True
    language, *rest = code.split("-")
    if language.lower() not in ISO_639_1:
        return False
    if rest and len(rest[0]) == 4 and rest[0].isalpha():
        rest = rest[1:]
    if not rest:
        return True
    region = rest[0]
    return len(rest) == 1 and (
        (len(region) == 2 and region.isalpha()) or (len(region) == 3 and region.isdigit())
    )


def hreflang(ctx: Context) -> list[Finding]:
    found = []
    for node in ctx.links("alternate"):
        code = (node.attributes.get("hreflang") or "").strip()
        if "hreflang" not in node.attributes:
            continue
        if not valid_hreflang(code):
            found.append(Finding("hreflang", "warning", f"invalid language code {code!r}", snippet(node)))
        elif not urlsplit(node.attributes.get("href") or "").scheme:
            found.append(Finding("hreflang", "warning", "hreflang href is not absolute", snippet(node)))
    return found


def canonical(ctx: Context) -> list[Finding]:
    nodes = ctx.links("canonical")
    found = []
    if len(nodes) > 1:
        found.append(Finding("canonical", "warning", f"{len(nodes)} canonical links", snippet(nodes[1])))
    host = (urlsplit(ctx.page.url).hostname or "").lower()
    for node in nodes:
        parts = urlsplit((node.attributes.get("href") or "").strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            found.append(
                Finding("canonical", "warning", "canonical URL is relative or invalid", snippet(node))
            )
        elif parts.hostname.lower() != host:
            found.append(Finding("canonical", "warning", "canonical points to another domain", snippet(node)))
    return found


def structured_data(ctx: Context) -> list[Finding]:
    _, broken = json_ld(ctx.tree)
    return [
        Finding("structured-data", "warning", f"JSON-LD does not parse: {err}", snippet(n))
        for n, err in broken
    ]


LIGHTHOUSE: dict[str, Rule] = {
    "http-status": http_status,
    "is-crawlable": is_crawlable,
    "document-title": document_title,
    "meta-description": meta_description,
    "link-text": link_text,
    "crawlable-anchors": crawlable_anchors,
    "robots-txt": robots_txt,
    "image-alt": image_alt,
    "hreflang": hreflang,
    "canonical": canonical,
    "structured-data": structured_data,
}
