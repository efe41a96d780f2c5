"""The tools as the tasks (and the crews) use them: async functions with JSON-able answers, each
doing the real work (fetching and parsing pages, SEO rules, KPIs from analytics, budget math).
One ToolBox per task run: it remembers each tool's last answer, so the stored result holds what
the tools found whoever called them (the fixed pipeline or an LLM)."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from services.ai_agents.domain import budget, content
from services.ai_agents.service.fleet import FleetReader
from services.ai_agents.tools import fetch, presence, seo
from services.ai_agents.tools import keywords as keywords_tool
from shared import errors

TOP_FINDINGS = 40


@dataclass
class ToolBox:
    tenant_id: uuid.UUID
    policy: fetch.FetchPolicy
    fleet: FleetReader
    max_pages: int
    memory: Any = None  # service.memory.Memory, for search_content
    results: dict[str, Any] = field(default_factory=dict)

    def _keep(self, name: str, answer: dict[str, Any]) -> dict[str, Any]:
        self.results[name] = answer
        return answer

    async def audit_site(self, url: str) -> dict[str, Any]:
        """Crawl the site (robots.txt respected) and audit every page: findings and a 0-100 score."""
        origin = fetch.origin_of(url)
        rules = await fetch.robots(origin, self.policy)
        sitemap = await fetch.find_sitemap(origin, self.policy, rules=rules)
        pages = await fetch.crawl(url, self.policy, max_pages=self.max_pages)
        audits = [seo.audit_page(page, rules, sitemap is not None) for page in pages]
        findings = [{**asdict(f), "url": a.url} for a in audits for f in a.findings if f.severity != "info"]
        return self._keep(
            "audit_site",
            {
                "url": url,
                "score": seo.site_score(audits),
                "pages": [{"url": a.url, "score": a.score, "failed": a.rules_failed()} for a in audits],
                "findings": findings[:TOP_FINDINGS],
                "findings_total": len(findings),
                "robots_txt": {"valid": rules.valid, "status": rules.raw_status, "sitemaps": rules.sitemaps},
                "sitemap": sitemap,
            },
        )

    async def analyse_keywords(self, url: str, keywords: str = "") -> dict[str, Any]:
        """Density and placement of each keyword (title, H1, first paragraph, URL) and readability."""
        page = await fetch.fetch(url, self.policy, html_only=True)
        wanted = [k.strip() for k in keywords.split(",") if k.strip()]
        report = keywords_tool.analyse(page.text(), page.url, wanted)
        return self._keep("analyse_keywords", asdict(report))

    async def check_presence(self, url: str, business_name: str = "") -> dict[str, Any]:
        """Social profiles (sameAs) and name/address/phone consistency across the site's pages."""
        pages = await fetch.crawl(url, self.policy, max_pages=min(self.max_pages, 10))
        profiles = sorted({p for page in pages for p in presence.same_as(page)})
        report = presence.nap(pages, business_name or None)
        return self._keep(
            "check_presence",
            {
                "url": url,
                "social_profiles": profiles,
                "nap": {"consistent": report.consistent, "variants": report.variants},
            },
        )

    async def check_email_auth(self, domain: str) -> dict[str, Any]:
        """SPF and DMARC from DNS; `not_checked` (never failed) when DNS cannot be asked."""
        name = (urlsplit(domain).hostname if "//" in domain else domain) or ""
        return self._keep(
            "check_email_auth", {"domain": name, **await presence.email_auth(name.removeprefix("www."))}
        )

    async def search_content(self, query: str) -> dict[str, Any]:
        """The tenant's saved content nearest to the query (to avoid repeating it)."""
        hits = await self.memory.search(self.tenant_id, query, 5) if self.memory else []
        items = [{"title": h["title"], "similarity": round(float(h["similarity"]), 3)} for h in hits]
        return self._keep("search_content", {"query": query, "items": items})

    async def read_campaign_kpis(self, campaign_id: str) -> dict[str, Any]:
        """The campaign's budgets (campaign_management) beside its figures per channel (analytics)."""
        cid = uuid.UUID(campaign_id)
        campaign = await self.fleet.campaign(self.tenant_id, cid)
        if campaign is None:
            raise errors.InvalidInput(f"no campaign {campaign_id} in this tenant", code="unknown-campaign")
        performance = await self.fleet.performance(self.tenant_id, cid) or {"channels": [], "currency": None}
        return self._keep(
            "read_campaign_kpis",
            {
                "campaign_id": campaign_id,
                "name": campaign.get("name"),
                "currency": campaign.get("currency"),
                "total_budget_minor": campaign.get("total_budget_minor"),
                "budgets": {c["channel"]: c["budget_minor"] for c in campaign.get("channels", [])},
                "channels": performance.get("channels", []),
            },
        )

    async def plan_budget(self, campaign_id: str) -> dict[str, Any]:
        """Budget moves toward the channels with the best marginal ROAS, within bounds, explained."""
        figures = self.results.get("read_campaign_kpis") or await self.read_campaign_kpis(campaign_id)
        by_channel = {c["channel"]: c for c in figures["channels"]}
        channels = [
            budget.ChannelFigures(
                channel=name,
                budget_minor=int(amount),
                spend_minor=int(by_channel.get(name, {}).get("spend_minor", 0)),
                conversions=float(by_channel.get(name, {}).get("conversions", 0) or 0),
                conversion_value_minor=int(by_channel.get(name, {}).get("conversion_value_minor", 0)),
                clicks=int(by_channel.get(name, {}).get("clicks", 0)),
                impressions=int(by_channel.get(name, {}).get("impressions", 0)),
            )
            for name, amount in figures["budgets"].items()
        ]
        total = sum(c.budget_minor for c in channels)
        policy = budget.Policy(
            min_spend_for_signal_minor=max(1, total // 100), pause_after_spend_minor=max(1, total // 20)
        )
        plan = budget.optimise(channels, policy)
        return self._keep(
            "plan_budget",
            {
                "campaign_id": campaign_id,
                "total_minor": plan.total_minor,
                "items": budget.items_for_event(plan),
            },
        )

    async def draft_content(
        self, brief: str, channel: str, tone: str, keywords_csv: str, length: str
    ) -> dict[str, Any]:
        """Template-based copy (no LLM): within each channel's limits, keywords woven in."""
        wanted = [k.strip() for k in keywords_csv.split(",") if k.strip()]
        made = content.generate(brief, channel, tone, wanted, length)  # type: ignore[arg-type]
        return self._keep("draft_content", {"title": made.title, "body": made.body, "meta": made.meta})
