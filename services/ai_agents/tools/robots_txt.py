"""robots.txt as Google reads it: the rules for our user agent, the sitemaps it names, and the
syntax errors Lighthouse's robots-txt audit reports. Pure parsing; fetching is `fetch.robots`."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

KNOWN_DIRECTIVES = frozenset(
    {"user-agent", "allow", "disallow", "sitemap", "crawl-delay", "host", "clean-param", "request-rate"}
)


def robots_errors(text: str) -> list[str]:
    """Syntax problems of a robots.txt, the ones Lighthouse's robots-txt audit reports."""
    errors: list[str] = []
    agent_seen = False
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        key, colon, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        if not colon:
            errors.append(f"line {number}: syntax not understood")
        elif key not in KNOWN_DIRECTIVES:
            errors.append(f"line {number}: unknown directive {key}")
        elif key == "user-agent":
            agent_seen = agent_seen or bool(value)
        elif key in ("allow", "disallow"):
            if not agent_seen:
                errors.append(f"line {number}: no user-agent specified")
            elif value and not value.startswith(("/", "*")):
                errors.append(f"line {number}: pattern should start with / or *")
        elif key == "sitemap" and urlsplit(value).scheme not in ("http", "https"):
            errors.append(f"line {number}: invalid sitemap URL")
    return errors


@dataclass
class RobotsRules:
    """What robots.txt lets our user agent fetch. Google's reading: a missing file (4xx) allows
    everything; a server error or an unreachable file disallows everything, and is reported
    (`valid` False, `error`) because it silently removes a site from search."""

    origin: str
    agent: str
    raw_status: int | None
    valid: bool = True
    error: str | None = None
    sitemaps: list[str] = field(default_factory=list)
    allow_all: bool = False
    disallow_all: bool = False
    parser: RobotFileParser | None = None

    @classmethod
    def from_text(cls, origin: str, agent: str, text: str, status: int = 200) -> RobotsRules:
        parser = RobotFileParser()
        parser.parse(text.splitlines())
        errors = robots_errors(text)
        return cls(
            origin=origin,
            agent=agent,
            raw_status=status,
            valid=not errors,
            error="; ".join(errors) or None,
            sitemaps=list(parser.site_maps() or []),
            parser=parser,
        )

    def allowed(self, url: str) -> bool:
        if self.disallow_all:
            return False
        if self.allow_all or self.parser is None:
            return True
        return self.parser.can_fetch(self.agent, url)
