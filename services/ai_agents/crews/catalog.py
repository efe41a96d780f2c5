"""The crews as plain data: who works on each task type, with which tools, on which task.

Why plain data: `GET /ai/agents` lists the crews and the runner builds CrewAI objects from the very same
specs, so what the API shows is what runs, and listing them never imports CrewAI (start-up stays light).

Tool names are the contract with the service: `TOOLS` says what each tool must do and which string
arguments it takes; the service passes a `runner.ToolSpec` of that name for every tool a crew names
(`CrewSpec.tool_names`). Task descriptions are templates whose `{placeholders}` are filled from the
task input (`CrewSpec.inputs` lists them); a missing value reads "(not given)".
"""

from __future__ import annotations

import json
import string
from dataclasses import dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class ToolContract:
    """What a tool of this name does and its arguments (name -> short description; all strings)."""

    name: str
    description: str
    parameters: dict[str, str]


@dataclass(frozen=True)
class AgentSpec:
    key: str
    role: str
    goal: str
    backstory: str
    tools: tuple[str, ...] = ()


@dataclass(frozen=True)
class TaskSpec:
    description: str  # template: {placeholders} come from the task input
    expected_output: str
    agent: str | None = None  # an AgentSpec.key; None in a hierarchical crew (the manager delegates)


@dataclass(frozen=True)
class CrewSpec:
    task_type: str
    summary: str
    process: Literal["sequential", "hierarchical"]
    agents: tuple[AgentSpec, ...]
    tasks: tuple[TaskSpec, ...]
    manager: AgentSpec | None = None  # required for (and only used by) a hierarchical crew

    @property
    def tool_names(self) -> tuple[str, ...]:
        """Every tool an agent of this crew expects, in first-use order."""
        return tuple(dict.fromkeys(name for agent in self.agents for name in agent.tools))

    @property
    def inputs(self) -> tuple[str, ...]:
        """The task-input keys the task templates use."""
        parser = string.Formatter()
        texts = [t.description for t in self.tasks] + [t.expected_output for t in self.tasks]
        return tuple(dict.fromkeys(field for text in texts for _, field, _, _ in parser.parse(text) if field))


NOT_GIVEN = "(not given)"


def render(template: str, task_input: dict[str, Any]) -> str:
    """Fill a task template; missing or empty inputs read "(not given)", lists read "a, b".

    Filled here rather than by CrewAI's `inputs`, which refuses a missing key and would read braces in
    a value (a brief quoting JSON) as further placeholders."""

    def text(value: Any) -> str:
        if value is None or value == "" or value == []:
            return NOT_GIVEN
        if isinstance(value, (list, tuple)):
            return ", ".join(str(v) for v in value)
        return value if isinstance(value, str) else json.dumps(value, default=str)

    class Values(dict[str, str]):
        def __missing__(self, key: str) -> str:
            return NOT_GIVEN

    return template.format_map(Values({k: text(v) for k, v in task_input.items()}))


URL = "Full URL of the site's start page, e.g. https://example.com/"

TOOLS: dict[str, ToolContract] = {
    t.name: t
    for t in (
        ToolContract(
            "audit_site",
            "Crawl a website (same host, robots.txt respected) and run the on-page SEO rules on each page: "
            "a 0-100 score per page and for the site, findings by severity, and the rules passed.",
            {"url": URL},
        ),
        ToolContract(
            "analyse_keywords",
            "Fetch one page and measure where each keyword appears (title, H1, URL, opening text), its "
            "density, and the page's Flesch reading ease.",
            {"url": "Full URL of the page", "keywords": "Comma-separated keywords or phrases"},
        ),
        ToolContract(
            "check_presence",
            "Crawl a website and compare the business name, address and phone (NAP) across its pages and "
            "structured data; list the social profiles it links to.",
            {"url": URL, "business_name": "The business's name as it should appear everywhere"},
        ),
        ToolContract(
            "check_email_auth",
            "Read a domain's SPF and DMARC records from DNS ('not_checked' when DNS cannot be asked).",
            {"domain": "Domain name without scheme or path, e.g. example.com"},
        ),
        ToolContract(
            "search_content",
            "Search the tenant's saved content for pieces close to a query, to avoid repeating them.",
            {"query": "Words or phrases to search for"},
        ),
        ToolContract(
            "draft_content",
            "Write a template draft that keeps the platform's length limits and reports which keywords it "
            "used; a starting point to improve on, not finished copy.",
            {
                "brief": "What the piece is for and what it must say",
                "channel": "One of blog, ad_copy, email, social",
                "tone": "e.g. professional, friendly, playful",
                "keywords": "Comma-separated keywords to include",
                "length": "One of short, medium, long",
            },
        ),
        ToolContract(
            "read_campaign_kpis",
            "A campaign's channels with budget, spend, conversions, conversion value, clicks and impressions "
            "(money in minor units) and the observed ROAS of each.",
            {"campaign_id": "The campaign's id"},
        ),
        ToolContract(
            "plan_budget",
            "One cautious budget reallocation step for a campaign (total conserved, per-channel floor and "
            "per-step cap kept) with pause suggestions for channels that spend without converting.",
            {"campaign_id": "The campaign's id"},
        ),
    )
}

SEO_ANALYST = AgentSpec(
    "seo_analyst",
    "SEO analyst",
    "Find what keeps the site from ranking and say what to fix first, with evidence from the audit.",
    "A technical SEO who trusts crawl data over opinion and ranks fixes by impact on search traffic.",
    ("audit_site", "analyse_keywords"),
)
LOCAL_ANALYST = AgentSpec(
    "local_presence_analyst",
    "Local presence analyst",
    "Check that customers and search engines find one consistent, trustworthy business.",
    "Knows local search: consistent name, address and phone, linked profiles, mail that is not spoofable.",
    ("check_presence", "check_email_auth"),
)

CREWS: dict[str, CrewSpec] = {
    c.task_type: c
    for c in (
        CrewSpec(
            "digital_presence_audit",
            "A lead delegates a site audit to an SEO analyst and a local presence analyst and merges the findings.",
            "hierarchical",
            (SEO_ANALYST, LOCAL_ANALYST),
            (
                TaskSpec(
                    "Audit the digital presence of {business_name} at {url}. Have the SEO analyst audit the "
                    "site and have the local presence analyst check name/address/phone consistency, social "
                    "profiles and the email authentication of the site's domain. Merge their findings.",
                    "A report: a one-paragraph verdict, the five most important fixes in priority order "
                    "(each with the finding that supports it), then an SEO section and a local presence section.",
                ),
            ),
            manager=AgentSpec(
                "presence_lead",
                "Digital presence lead",
                "Deliver one prioritised, evidence-based presence audit by delegating to the specialists.",
                "Runs audits for small businesses; delegates the checks, then decides what matters most.",
            ),
        ),
        CrewSpec(
            "seo_analysis",
            "An SEO analyst audits the site and checks the target keywords.",
            "sequential",
            (SEO_ANALYST,),
            (
                TaskSpec(
                    "Analyse the SEO of {url}. Audit the site; if target keywords are given ({keywords}), "
                    "check how the start page uses them.",
                    "The site score, the most important findings with the pages they affect, and a fix list "
                    "ordered by impact.",
                    "seo_analyst",
                ),
            ),
        ),
        CrewSpec(
            "content_generation",
            "A strategist checks what exists and sets the angle; a copywriter writes the piece.",
            "sequential",
            (
                AgentSpec(
                    "content_strategist",
                    "Content strategist",
                    "Set an angle that serves the brief and does not repeat what the tenant already published.",
                    "Plans content for small brands; always checks the archive before commissioning a piece.",
                    ("search_content",),
                ),
                AgentSpec(
                    "copywriter",
                    "Copywriter",
                    "Write copy that fits the channel's limits, uses the keywords naturally and sounds human.",
                    "A conversion copywriter who starts from a draft and rewrites it until it is good.",
                    ("draft_content",),
                ),
            ),
            (
                TaskSpec(
                    "Plan a {channel} piece for this brief: {brief}. Keywords: {keywords}. Search the saved "
                    "content for similar pieces and choose an angle that does not repeat them.",
                    "The angle, the key messages, and any existing pieces to avoid repeating.",
                    "content_strategist",
                ),
                TaskSpec(
                    "Write the {channel} piece ({length} length, {tone} tone) for the brief: {brief}. Start "
                    "from a draft made with the keywords {keywords}, then improve it following the plan.",
                    "The finished copy only, within the channel's limits, keywords included.",
                    "copywriter",
                ),
            ),
        ),
        CrewSpec(
            "campaign_optimization",
            "A performance marketer reads the campaign's KPIs and proposes a budget plan.",
            "sequential",
            (
                AgentSpec(
                    "performance_marketer",
                    "Performance marketer",
                    "Move budget to where it earns most, one cautious step at a time, and explain why.",
                    "Manages paid media for small businesses; trusts the numbers and never bets the budget.",
                    ("read_campaign_kpis", "plan_budget"),
                ),
            ),
            (
                TaskSpec(
                    "Optimise campaign {campaign_id}: read its KPIs, get a budget plan, and explain the plan.",
                    "The proposed budget moves and pauses with their rationale, and what to watch next.",
                    "performance_marketer",
                ),
            ),
        ),
    )
}


def describe() -> list[dict[str, Any]]:
    """The crews as JSON for `GET /ai/agents`."""

    def agent(a: AgentSpec) -> dict[str, Any]:
        tools = [{"name": n, "description": TOOLS[n].description} for n in a.tools]
        return {"role": a.role, "goal": a.goal, "backstory": a.backstory, "tools": tools}

    return [
        {
            "task_type": c.task_type,
            "summary": c.summary,
            "process": c.process,
            "manager": agent(c.manager) if c.manager else None,
            "agents": [agent(a) for a in c.agents],
            "inputs": list(c.inputs),
        }
        for c in CREWS.values()
    ]
