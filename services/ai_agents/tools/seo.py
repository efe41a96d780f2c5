"""On-page SEO audit of fetched pages: run every rule of `seo_rules`, score the result.

Rules: `seo_rules.LIGHTHOUSE` then `seo_checks.CHECKS`, each a small function of the page.

Scoring: start at 100 and subtract, once per rule that found anything, the weight of the worst
severity it found (error 15, warning 5, info 0); floor 0. Per rule rather than per finding, the
way Lighthouse weighs audits: a page with forty images without alt text has one problem to fix,
not forty, and should not score below a page that is blocked from indexing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from services.ai_agents.tools.fetch import Page, RobotsRules
from services.ai_agents.tools.markup import parse
from services.ai_agents.tools.seo_checks import CHECKS
from services.ai_agents.tools.seo_rules import LIGHTHOUSE, Context, Finding, Rule, Severity

__all__ = ["RULES", "Finding", "PageAudit", "audit_page", "score", "site_score"]

RULES: dict[str, Rule] = {**LIGHTHOUSE, **CHECKS}  # the order findings and `passed` are reported in
WEIGHTS: dict[Severity, int] = {"error": 15, "warning": 5, "info": 0}
ORDER: dict[Severity, int] = {"error": 0, "warning": 1, "info": 2}


@dataclass
class PageAudit:
    """The findings on one page, the rules it passed, and those that did not apply to it."""

    url: str
    score: int
    findings: list[Finding] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    not_applicable: list[str] = field(default_factory=list)

    def rules_failed(self) -> list[str]:
        return list(dict.fromkeys(f.rule for f in self.findings))

    def by_rule(self, name: str) -> list[Finding]:
        return [f for f in self.findings if f.rule == name]


def score(findings: Iterable[Finding]) -> int:
    """100 minus the worst severity's weight of each failing rule, floored at 0 (see module doc)."""
    worst: dict[str, Severity] = {}
    for finding in findings:
        current = worst.get(finding.rule)
        if current is None or ORDER[finding.severity] < ORDER[current]:
            worst[finding.rule] = finding.severity
    return max(0, 100 - sum(WEIGHTS[severity] for severity in worst.values()))


def audit_page(page: Page, robots: RobotsRules | None = None, sitemap_found: bool | None = None) -> PageAudit:
    """Audit one page. Without `robots` the robots-txt rule is not applicable and is-crawlable looks
    only at the page's own directives; without `sitemap_found` the sitemap rule is not applicable."""
    ctx = Context(page=page, tree=parse(page), robots=robots, sitemap_found=sitemap_found)
    findings: list[Finding] = []
    passed: list[str] = []
    not_applicable: list[str] = []
    for name, check in RULES.items():
        result = check(ctx)
        if result is None:
            not_applicable.append(name)
        elif result:
            findings.extend(result)
        else:
            passed.append(name)
    return PageAudit(page.url, score(findings), findings, passed, not_applicable)


def site_score(audits: Iterable[PageAudit]) -> int:
    """The rounded mean of the page scores; 0 for a site with no audited page."""
    scores = [audit.score for audit in audits]
    return round(sum(scores) / len(scores)) if scores else 0
