"""What each task type does: the tools in a fixed pipeline (`engine: tools-only`), or a CrewAI
crew reasoning over the same tools when an LLM is configured (`engine: crewai:<model>`). Either
way the tools a task promises have run and their findings are in the result: after a crew, any
such tool it did not call is called directly. The service never presents template text as an
LLM's: the engine says which one produced the result."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from services.ai_agents.domain.content import similarity_warning
from services.ai_agents.models import Task
from services.ai_agents.service.toolbox import ToolBox

Step = Callable[[str], Awaitable[None]]
TOOLS_ONLY = "tools-only"


@dataclass
class Outcome:
    engine: str
    summary: str
    result: dict[str, Any]
    token_usage: dict[str, int] | None = None
    memory: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, title, body) to remember


async def run_pipeline(task: Task, box: ToolBox, step: Step) -> Outcome:
    """The fixed pipeline of each task type: the tools only."""
    data = task.input
    if task.type == "seo_analysis":
        await step("crawling and auditing the site")
        audit = await box.audit_site(data["url"])
        await step("analysing keywords")
        await box.analyse_keywords(data["url"], ",".join(data.get("keywords", [])))
        summary = f"SEO score {audit['score']}/100 over {len(audit['pages'])} pages, {audit['findings_total']} findings"
        return Outcome(
            TOOLS_ONLY,
            summary,
            dict(box.results),
            memory=[("audit", f"SEO analysis of {data['url']}", summary)],
        )
    if task.type == "digital_presence_audit":
        await step("crawling and auditing the site")
        audit = await box.audit_site(data["url"])
        await step("reading presence signals")
        signals = await box.check_presence(data["url"], data.get("business_name") or "")
        await step("reading SPF and DMARC")
        await box.check_email_auth(data["url"])
        summary = (
            f"SEO score {audit['score']}/100; {len(signals['social_profiles'])} social profiles; "
            f"name/address/phone {'consistent' if signals['nap']['consistent'] else 'inconsistent'}"
        )
        return Outcome(
            TOOLS_ONLY,
            summary,
            dict(box.results),
            memory=[("audit", f"Presence audit of {data['url']}", summary)],
        )
    if task.type == "content_generation":
        await step("drafting from templates")
        draft = await box.draft_content(
            data["brief"],
            data["channel"],
            data.get("tone", "professional"),
            ",".join(data.get("keywords", [])),
            data.get("length", "medium"),
        )
        return Outcome(
            TOOLS_ONLY,
            draft["title"],
            dict(box.results),
            memory=[(f"content:{data['channel']}", draft["title"], draft["body"])],
        )
    await step("reading the campaign's budgets and figures")
    await box.read_campaign_kpis(str(data["campaign_id"]))
    await step("planning the budget")
    plan = await box.plan_budget(str(data["campaign_id"]))
    summary = f"{len(plan['items'])} recommendation(s)"
    return Outcome(TOOLS_ONLY, summary, dict(box.results))


REQUIRED_TOOLS = {
    "seo_analysis": ("audit_site",),
    "digital_presence_audit": ("audit_site", "check_presence", "check_email_auth"),
    "content_generation": (),
    "campaign_optimization": ("read_campaign_kpis", "plan_budget"),
}


async def complete_after_crew(task: Task, box: ToolBox) -> None:
    """The tools whose findings the task promises, if the crew did not call them."""
    data = task.input
    for name in REQUIRED_TOOLS[task.type]:
        if name in box.results:
            continue
        if name == "audit_site":
            await box.audit_site(data["url"])
        elif name == "check_presence":
            await box.check_presence(data["url"], data.get("business_name") or "")
        elif name == "check_email_auth":
            await box.check_email_auth(data["url"])
        elif name == "read_campaign_kpis":
            await box.read_campaign_kpis(str(data["campaign_id"]))
        else:
            await box.plan_budget(str(data["campaign_id"]))


def near_duplicate(nearest: dict[str, Any] | None) -> dict[str, Any] | None:
    if nearest is None:
        return None
    warning = similarity_warning(float(nearest["similarity"]))
    return (
        {
            "warning": warning,
            "content_id": str(nearest["id"]),
            "similarity": round(float(nearest["similarity"]), 3),
        }
        if warning
        else None
    )
