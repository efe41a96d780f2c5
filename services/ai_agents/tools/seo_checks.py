"""The on-page checks SEO checkers add to Lighthouse's set: lengths, headings, social cards,
sitemap, redirects, transport security, weight and mixed content. Same contract as `seo_rules`:
findings, an empty list for a pass, None when the check does not apply to the page."""

from __future__ import annotations

from urllib.parse import urljoin

from services.ai_agents.tools.markup import snippet, text_of
from services.ai_agents.tools.seo_rules import Context, Finding, Rule

WEIGHT_WARNING = 1_500_000


def title_length(ctx: Context) -> list[Finding] | None:
    node = ctx.tree.css_first("title")
    if node is None:
        return None  # no title at all is document-title's finding; an empty one is both
    title = text_of(node)
    if not 30 <= len(title) <= 60:
        return [
            Finding(
                "title-length", "warning", f"title is {len(title)} characters (30-60)", title[:200] or None
            )
        ]
    return []


def description_length(ctx: Context) -> list[Finding] | None:
    text = ctx.meta("description")
    if text is None:
        return None
    if not 70 <= len(text) <= 160:
        return [
            Finding(
                "description-length",
                "warning",
                f"description is {len(text)} characters (70-160)",
                text[:200] or None,
            )
        ]
    return []


def h1(ctx: Context) -> list[Finding]:
    nodes = ctx.tree.css("h1")
    if len(nodes) == 1:
        return []
    message = "page has no <h1>" if not nodes else f"page has {len(nodes)} <h1> elements"
    return [Finding("h1", "warning", message, snippet(nodes[1]) if nodes else None)]


def heading_order(ctx: Context) -> list[Finding]:
    found, previous = [], None
    for node in ctx.tree.css("h1, h2, h3, h4, h5, h6"):
        level = int((node.tag or "h1")[1])
        if previous is not None and level > previous + 1:
            found.append(
                Finding("heading-order", "warning", f"h{previous} followed by h{level}", snippet(node))
            )
        previous = level
    return found


def open_graph(ctx: Context) -> list[Finding]:
    missing = [p for p in ("og:title", "og:description", "og:image") if not ctx.meta(p, "property")]
    return [Finding("open-graph", "info", f"missing {', '.join(missing)}")] if missing else []


def twitter_card(ctx: Context) -> list[Finding]:
    return [] if ctx.meta("twitter:card") else [Finding("twitter-card", "info", "missing twitter:card")]


def sitemap(ctx: Context) -> list[Finding] | None:
    if ctx.sitemap_found is None:
        return None
    return [] if ctx.sitemap_found else [Finding("sitemap", "warning", "no XML sitemap found")]


def redirect_chain(ctx: Context) -> list[Finding]:
    hops = ctx.page.redirects
    if len(hops) <= 1:
        return []
    chain = " -> ".join([*(f"{url} ({status})" for status, url in hops), ctx.page.url])
    return [Finding("redirect-chain", "warning", f"{len(hops)} redirects before the page", chain[:200])]


def https(ctx: Context) -> list[Finding]:
    return (
        [] if ctx.https else [Finding("https", "error", "page is served over plain http", ctx.page.url[:200])]
    )


def hsts(ctx: Context) -> list[Finding] | None:
    if not ctx.https:
        return None
    if "strict-transport-security" in ctx.page.headers:
        return []
    return [Finding("hsts", "warning", "no Strict-Transport-Security header")]


def page_weight(ctx: Context) -> list[Finding]:
    if ctx.page.truncated:
        return [Finding("page-weight", "error", f"page exceeds the {len(ctx.page.body)}-byte fetch limit")]
    if ctx.page.size > WEIGHT_WARNING:
        return [Finding("page-weight", "warning", f"page weighs {ctx.page.size} bytes (> 1.5 MB)")]
    return []


def mixed_content(ctx: Context) -> list[Finding] | None:
    if not ctx.https:
        return None
    candidates = [*ctx.tree.css("img[src], script[src], iframe[src]"), *ctx.links("stylesheet")]
    found = []
    for node in candidates:
        target = node.attributes.get("src") if node.tag != "link" else node.attributes.get("href")
        if urljoin(ctx.page.url, (target or "").strip()).lower().startswith("http://"):
            found.append(
                Finding("mixed-content", "error", "insecure resource on an https page", snippet(node))
            )
    return found


CHECKS: dict[str, Rule] = {
    "title-length": title_length,
    "description-length": description_length,
    "h1": h1,
    "heading-order": heading_order,
    "open-graph": open_graph,
    "twitter-card": twitter_card,
    "sitemap": sitemap,
    "redirect-chain": redirect_chain,
    "https": https,
    "hsts": hsts,
    "page-weight": page_weight,
    "mixed-content": mixed_content,
}
