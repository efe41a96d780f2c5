"""The LLM path: the task's crew (services/ai_agents/crews) reasons over this run's ToolBox.
CrewAI is imported there, only when a crew runs, so start-up stays light."""

from __future__ import annotations

from typing import Any

from services.ai_agents.models import Task
from services.ai_agents.service.runs import Outcome
from services.ai_agents.service.toolbox import ToolBox


class CrewEngine:
    def __init__(self, base_url: str, model: str, api_key: str) -> None:
        from services.ai_agents.crews.runner import LlmConfig

        self.llm = LlmConfig(base_url=base_url.rstrip("/"), model=model, api_key=api_key or "not-needed")

    @property
    def engine(self) -> str:
        return f"crewai:{self.llm.model}"

    async def run(self, task: Task, box: ToolBox, time_limit: float) -> Outcome:
        from services.ai_agents.crews.runner import run_crew

        crew = await run_crew(task.type, dict(task.input), tool_specs(box), self.llm, time_limit)
        result: dict[str, Any] = {"crew_output": crew.output, "tool_calls": crew.tool_calls}
        memory: list[tuple[str, str, str]] = []
        if task.type == "content_generation":
            title = (
                crew.output.strip().splitlines()[0][:200]
                if crew.output.strip()
                else task.input["brief"][:200]
            )
            memory.append((f"content:{task.input['channel']}", title, crew.output))
        elif task.type in ("seo_analysis", "digital_presence_audit"):
            memory.append(("audit", f"{task.type} of {task.input['url']}", crew.output))
        return Outcome(crew.engine, crew.output[:500], result, crew.token_usage, memory)


def tool_specs(box: ToolBox) -> list[Any]:
    """The ToolBox's tools under the contracts the crews know (crews/catalog.py)."""
    from services.ai_agents.crews.catalog import TOOLS
    from services.ai_agents.crews.runner import ToolSpec

    return [ToolSpec(t.name, t.description, dict(t.parameters), getattr(box, t.name)) for t in TOOLS.values()]
