"""Web presence beyond the page: social profiles, NAP consistency, and email authentication in DNS.

Local search trusts a business whose name, address and phone (NAP) read the same everywhere, so
`nap` compares what every page says, normalised so that formatting differences are not reported
as inconsistencies. `email_auth` reads SPF and DMARC; when DNS cannot be asked (no resolver, a
timeout) it says "not_checked" rather than inventing a failure the tenant would try to fix.
"""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import dns.asyncresolver
import dns.exception
import dns.resolver

from services.ai_agents.tools.fetch import Page, normalise
from services.ai_agents.tools.markup import json_ld, ld_objects, ld_types, parse, text_of

SOCIAL_HOSTS = (
    "facebook.com",
    "instagram.com",
    "linkedin.com",
    "x.com",
    "twitter.com",
    "youtube.com",
    "tiktok.com",
)
SHARE_PATHS = ("/sharer", "/share", "/intent")  # "share this page" buttons, not the business's profile
BUSINESS_SUFFIXES = ("Organization", "Business", "Store", "Corporation", "Restaurant", "Service")
NOT_BUSINESS = frozenset({"Person", "PostalAddress", "Place", "ContactPoint", "Event", "Offer"})
ADDRESS_PARTS = ("streetAddress", "addressLocality", "addressRegion", "postalCode", "addressCountry")


def _is_business(obj: dict[str, Any]) -> bool:
    """Organization, LocalBusiness or one of their hundreds of subtypes ("Plumber", "Dentist"): known
    by name when the type says so, else by having the NAP properties only such types carry."""
    types = ld_types(obj)
    if any(t.endswith(BUSINESS_SUFFIXES) or t == "NGO" for t in types):
        return True
    return not types & NOT_BUSINESS and any(key in obj for key in ("address", "telephone"))


def _business_objects(page: Page) -> list[dict[str, Any]]:
    blocks, _ = json_ld(parse(page))
    return [obj for block in blocks for obj in ld_objects(block) if _is_business(obj)]


def _social(url: str) -> bool:
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    on_social = any(host == s or host.endswith("." + s) for s in SOCIAL_HOSTS)
    return on_social and not parts.path.lower().startswith(SHARE_PATHS)


def same_as(page: Page) -> list[str]:
    """Social profile URLs the page claims: JSON-LD `sameAs` of the business, then links to social
    networks, normalised and without duplicates, in the order found."""
    found: list[str] = []
    for obj in _business_objects(page):
        value = obj.get("sameAs", [])
        found.extend(str(v) for v in (value if isinstance(value, list) else [value]))
    found.extend(urljoin(page.url, a.attributes.get("href") or "") for a in parse(page).css("a[href]"))
    return list(dict.fromkeys(normalise(url) for url in found if _social(url)))


def phone_digits(raw: str) -> str:
    """A phone number as digits only, an international `00` prefix dropped."""
    digits = "".join(ch for ch in raw if ch.isdigit())
    return digits[2:] if raw.strip().startswith("00") else digits


def _text_key(raw: str) -> str:
    cleaned = raw.lower().translate(str.maketrans(string.punctuation, " " * len(string.punctuation)))
    return " ".join(cleaned.split())


def _address(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(str(value[k]) for k in ADDRESS_PARTS if value.get(k))
    return str(value) if value else ""


@dataclass
class PageNap:
    """Name, address and phone as one page states them (normalised)."""

    url: str
    names: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)


@dataclass
class NapReport:
    """Per-page NAP, the distinct values of each field across the site, and whether there is at most
    one of each (`consistent`)."""

    pages: list[PageNap]
    variants: dict[str, list[str]]
    consistent: bool


def page_nap(page: Page) -> PageNap:
    tree = parse(page)
    result = PageNap(page.url)
    for obj in _business_objects(page):
        if obj.get("name"):
            result.names.append(_text_key(str(obj["name"])))
        if _address(obj.get("address")):
            result.addresses.append(_text_key(_address(obj.get("address"))))
        if obj.get("telephone"):
            result.phones.append(phone_digits(str(obj["telephone"])))
    result.addresses += [_text_key(text_of(node)) for node in tree.css("address") if text_of(node)]
    for a in tree.css("a[href]"):
        href = (a.attributes.get("href") or "").strip()
        if href.lower().startswith("tel:") and phone_digits(href[4:]):
            result.phones.append(phone_digits(href[4:]))
    result.names, result.addresses, result.phones = (
        list(dict.fromkeys(values)) for values in (result.names, result.addresses, result.phones)
    )
    return result


def _merge_phones(phones: Iterable[str]) -> list[str]:
    """Distinct numbers, counting one as the same as a longer one that ends with it (a national
    number and its international form), when at least 7 digits long."""
    distinct = sorted(set(phones), key=len, reverse=True)
    kept: list[str] = []
    for number in distinct:
        if not any(len(number) >= 7 and longer.endswith(number) for longer in kept):
            kept.append(number)
    return sorted(kept)


def nap(pages: Iterable[Page], business_name: str | None = None) -> NapReport:
    """Compare NAP across pages; a given `business_name` is the reference every name must match."""
    per_page = [page_nap(page) for page in pages]
    names = [n for p in per_page for n in p.names] + ([_text_key(business_name)] if business_name else [])
    variants = {
        "name": sorted(set(names)),
        "address": sorted({a for p in per_page for a in p.addresses}),
        "phone": _merge_phones(n for p in per_page for n in p.phones),
    }
    return NapReport(per_page, variants, all(len(values) <= 1 for values in variants.values()))


async def _txt(resolver: dns.asyncresolver.Resolver, name: str, prefix: str) -> dict[str, str | None]:
    try:
        answer = await resolver.resolve(name, "TXT")
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return {"status": "missing", "record": None}
    except (dns.exception.DNSException, OSError):
        return {"status": "not_checked", "record": None}
    for rdata in answer:
        record = b"".join(rdata.strings).decode("utf-8", errors="replace")
        if record.lower().startswith(prefix):
            return {"status": "present", "record": record}
    return {"status": "missing", "record": None}


async def email_auth(
    domain: str, resolver_timeout: float = 2.0, resolver: dns.asyncresolver.Resolver | None = None
) -> dict[str, dict[str, str | None]]:
    """SPF and DMARC records of `domain`: each {"status": present|missing|not_checked, "record"}."""
    if resolver is None:
        try:
            resolver = dns.asyncresolver.Resolver()
        except (dns.exception.DNSException, OSError):
            skipped = {"status": "not_checked", "record": None}
            return {"spf": dict(skipped), "dmarc": dict(skipped)}
    resolver.timeout = resolver.lifetime = resolver_timeout
    domain = domain.strip().rstrip(".").lower()
    return {
        "spf": await _txt(resolver, domain, "v=spf1"),
        "dmarc": await _txt(resolver, f"_dmarc.{domain}", "v=dmarc1"),
    }
