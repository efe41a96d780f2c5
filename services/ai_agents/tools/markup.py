"""HTML helpers the audit tools share: one way to parse a page, describe an element, read JSON-LD.

Everything goes through selectolax's lexbor parser, which builds the tree a browser builds, so the
checks see what a crawler sees rather than what a regular expression guesses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from services.ai_agents.tools.fetch import Page

SNIPPET_MAX = 200
HIDDEN = ["script", "style", "noscript", "template"]


def parse(page: Page | str) -> LexborHTMLParser:
    """The page's DOM, decoded with the charset the server declared."""
    return LexborHTMLParser(page if isinstance(page, str) else page.text())


def snippet(node: LexborNode, limit: int = SNIPPET_MAX) -> str:
    """The element's markup on one line, cut to `limit` characters, to point a user at it."""
    text = " ".join((node.html or f"<{node.tag}>").split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def text_of(node: LexborNode | None) -> str:
    """Visible text of an element, whitespace collapsed."""
    return " ".join(node.text(separator=" ").split()) if node is not None else ""


def visible_text(tree: LexborHTMLParser) -> str:
    """The body's text as a reader sees it: scripts, styles, noscript and templates removed."""
    body = tree.clone().body
    if body is None:
        return ""
    for node in body.css(", ".join(HIDDEN)):
        node.decompose()
    return text_of(body)


def json_ld(tree: LexborHTMLParser) -> tuple[list[Any], list[tuple[LexborNode, str]]]:
    """Parsed JSON-LD blocks, and the blocks that do not parse with their error."""
    parsed: list[Any] = []
    broken: list[tuple[LexborNode, str]] = []
    for node in tree.css("script[type]"):
        if (node.attributes.get("type") or "").split(";")[0].strip().lower() != "application/ld+json":
            continue
        try:
            parsed.append(json.loads(node.text() or ""))
        except ValueError as exc:
            broken.append((node, str(exc)))
    return parsed, broken


def ld_objects(data: Any) -> Iterator[dict[str, Any]]:
    """Every JSON-LD object in a block, nested ones and `@graph` members included."""
    if isinstance(data, list):
        for item in data:
            yield from ld_objects(item)
    elif isinstance(data, dict):
        yield data
        for value in data.values():
            if isinstance(value, dict | list):
                yield from ld_objects(value)


def ld_types(obj: dict[str, Any]) -> set[str]:
    """The object's `@type`s, without a schema.org prefix."""
    raw = obj.get("@type", [])
    types = raw if isinstance(raw, list) else [raw]
    return {str(t).rsplit("/", 1)[-1].rsplit(":", 1)[-1] for t in types}
