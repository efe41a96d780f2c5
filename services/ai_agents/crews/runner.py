"""Run a CrewAI crew for one task over our real (async) tools: `run_crew` is all the service calls.

Why this shape:
- CrewAI is imported only inside functions, after its telemetry and tracing are switched off in the
  environment, so service start-up stays light and nothing phones home.
- The crew runs through `Crew.akickoff()` (CrewAI 1.15's native async kickoff). CrewAI still calls a
  tool's synchronous `_run` from a worker thread, so each tool bridges back to the service's event
  loop with `run_coroutine_threadsafe`: our tools keep their loop-bound clients and the loop stays free.
- Every tool call is recorded by our wrapper (not read back from CrewAI), so `tool_calls` is what
  really ran; a tool that raises becomes an error text for the model, never a crashed task.
- Each agent gets its own `LLM` object: CrewAI sums the usage of every agent's LLM, so a shared one
  would count the same tokens once per agent.
- The digital presence audit runs `Process.hierarchical` with our manager agent (CrewAI gives it the
  delegation tools). After a time limit, tools refuse to run and in-flight calls are cancelled; a
  worker thread inside CrewAI may still finish its current LLM request (bounded by `timeout`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from services.ai_agents.crews.catalog import CREWS, AgentSpec, CrewSpec, TaskSpec, render

log = logging.getLogger(__name__)

RESULT_MAX_CHARS = 8_000
"""Tool results beyond this are cut: a crawl can be megabytes, a model's context is not."""

OFFLINE_ENV = {
    "CREWAI_DISABLE_TELEMETRY": "true",
    "OTEL_SDK_DISABLED": "true",
    "CREWAI_TRACING_ENABLED": "false",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # should litellm ever be the fallback: no remote cost map
}

ToolFn = Callable[..., Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class LlmConfig:
    base_url: str  # OpenAI-compatible, e.g. http://127.0.0.1:8098/v1
    model: str  # sent to CrewAI as "openai/<model>" (its native OpenAI provider)
    api_key: str = field(repr=False)
    timeout: float = 60.0  # per LLM request
    max_iter: int = 6  # per agent, against tool-calling loops
    max_retries: int = 2  # the openai SDK's retries on 429/5xx and connection errors


@dataclass(frozen=True)
class ToolSpec:
    name: str  # e.g. "audit_site"; see catalog.TOOLS
    description: str
    parameters: dict[str, str]  # argument name -> short description; every argument is a string
    fn: ToolFn

    def __post_init__(self) -> None:
        bad = [p for p in self.parameters if not p.isidentifier() or p.startswith("_")]
        if bad:
            raise ValueError(f"tool {self.name!r}: parameter names must be identifiers: {bad}")


@dataclass
class CrewResult:
    engine: str  # f"crewai:{model}"
    output: str  # the crew's final answer (raw text)
    token_usage: dict[str, int]  # prompt_tokens, completion_tokens, total_tokens
    tool_calls: list[dict[str, Any]]  # {"tool", "arguments", "ok"[, "error"]} in call order


class CrewError(Exception):
    """The crew could not run or finish."""


class CrewTimeout(CrewError, TimeoutError):
    """The crew did not finish within the task's time limit."""


class MissingTools(CrewError, ValueError):
    """A crew's agents expect tools the caller did not pass (names listed)."""


def _offline_crewai() -> None:
    """Switch CrewAI's telemetry/tracing off before its first import (it reads them at import), and
    keep its internal locks on local files: by default it takes them in whatever Redis `REDIS_URL`
    names, which here is this service's least-privilege user (it may only write its own stream)."""
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
    import crewai  # noqa: F401
    from crewai_core.lock_store import set_lock_backend

    set_lock_backend(_file_lock)


@contextmanager
def _file_lock(name: str, *, timeout: float) -> Iterator[None]:
    import portalocker

    digest = hashlib.sha256(name.encode()).hexdigest()[:32]
    with portalocker.Lock(
        os.path.join(tempfile.gettempdir(), f"bizosaas-crewai-{digest}.lock"), timeout=timeout
    ):
        yield


def compact(result: Any) -> str:
    """A tool result as compact JSON text for the model, cut at RESULT_MAX_CHARS."""
    text = result if isinstance(result, str) else json.dumps(result, separators=(",", ":"), default=str)
    if len(text) <= RESULT_MAX_CHARS:
        return text
    return f"{text[:RESULT_MAX_CHARS]}... [truncated {len(text) - RESULT_MAX_CHARS} characters]"


class _Bridge:
    """Runs our async tools on the service loop for CrewAI's threads, and records every call."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.calls: list[dict[str, Any]] = []
        self.closed = False
        self._pending: set[concurrent.futures.Future[str]] = set()
        self._lock = threading.Lock()

    async def invoke(self, spec: ToolSpec, arguments: dict[str, Any]) -> str:
        call: dict[str, Any] = {"tool": spec.name, "arguments": dict(arguments), "ok": False}
        self.calls.append(call)
        if self.closed:
            call["error"] = "not run: the crew was stopped"
            return f"Error: {spec.name} was not run: the crew was stopped."
        try:
            result = await spec.fn(**arguments)
        except asyncio.CancelledError:
            call["error"] = "cancelled: the crew was stopped"
            raise
        except Exception as exc:  # the model gets the error and can adapt; the task goes on
            call["error"] = f"{type(exc).__name__}: {exc}"[:500]
            log.info("crew tool %s failed: %s", spec.name, call["error"])
            return f"Error: the {spec.name} tool failed: {call['error']}"
        call["ok"] = True
        return compact(result)

    def call_sync(self, spec: ToolSpec, arguments: dict[str, Any]) -> str:
        """For CrewAI's `_run`, usually on a worker thread: block that thread, not the service loop."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:  # on the loop's own thread: waiting on the loop would deadlock
            with concurrent.futures.ThreadPoolExecutor(1) as pool:
                return pool.submit(asyncio.run, self.invoke(spec, arguments)).result()
        future = asyncio.run_coroutine_threadsafe(self.invoke(spec, arguments), self.loop)
        with self._lock:
            self._pending.add(future)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            return f"Error: {spec.name} was cancelled: the crew was stopped."
        finally:
            with self._lock:
                self._pending.discard(future)

    async def call_async(self, spec: ToolSpec, arguments: dict[str, Any]) -> str:
        """For CrewAI's `_arun`: await directly on the service loop, else hand over to it."""
        if asyncio.get_running_loop() is self.loop:
            return await self.invoke(spec, arguments)
        return await asyncio.wrap_future(
            asyncio.run_coroutine_threadsafe(self.invoke(spec, arguments), self.loop)
        )

    def close(self) -> None:
        """Refuse further calls and cancel those in flight (after the crew finished or timed out)."""
        self.closed = True
        with self._lock:
            pending, self._pending = self._pending, set()
        for future in pending:
            future.cancel()


@functools.cache
def _tool_class() -> type[Any]:
    """The BaseTool subclass our tools are instances of (built once, on first use: crewai is lazy)."""
    _offline_crewai()
    from crewai.tools import BaseTool
    from pydantic import PrivateAttr

    class BridgedTool(BaseTool):
        """One of our async tools, as CrewAI sees it; `args_schema` is built from its parameters."""

        _spec: ToolSpec = PrivateAttr()
        _bridge: _Bridge = PrivateAttr()

        def _run(self, **kwargs: Any) -> str:
            return self._bridge.call_sync(self._spec, kwargs)

        async def _arun(self, **kwargs: Any) -> str:
            return await self._bridge.call_async(self._spec, kwargs)

    return BridgedTool


def _make_tool(spec: ToolSpec, bridge: _Bridge) -> Any:
    from pydantic import BaseModel, Field, create_model

    fields: dict[str, Any] = {name: (str, Field(description=text)) for name, text in spec.parameters.items()}
    schema: type[BaseModel] = create_model(f"{spec.name.title().replace('_', '')}Args", **fields)
    tool = _tool_class()(name=spec.name, description=spec.description, args_schema=schema)
    tool._spec, tool._bridge = spec, bridge
    return tool


def _build_crew(
    crew_spec: CrewSpec, task_input: dict[str, Any], tools: dict[str, Any], cfg: LlmConfig
) -> Any:
    _offline_crewai()
    from crewai import LLM, Agent, Crew, Process, Task

    def llm() -> Any:  # one per agent: CrewAI sums usage per agent LLM
        return LLM(
            model=f"openai/{cfg.model}",
            base_url=cfg.base_url,
            api_key=cfg.api_key,
            timeout=cfg.timeout,
            max_retries=cfg.max_retries,
        )

    def agent(spec: AgentSpec, delegate: bool = False) -> Any:
        return Agent(
            role=spec.role,
            goal=spec.goal,
            backstory=spec.backstory,
            tools=[tools[name] for name in spec.tools],
            llm=llm(),
            max_iter=cfg.max_iter,
            allow_delegation=delegate,
            verbose=False,
            cache=False,
        )

    agents = {spec.key: agent(spec) for spec in crew_spec.agents}

    def task(spec: TaskSpec) -> Any:
        return Task(
            description=render(spec.description, task_input),
            expected_output=render(spec.expected_output, task_input),
            agent=agents[spec.agent] if spec.agent else None,
        )

    hierarchical = crew_spec.process == "hierarchical"
    if hierarchical and crew_spec.manager is None:
        raise CrewError(f"crew {crew_spec.task_type!r} is hierarchical but names no manager")
    return Crew(
        agents=list(agents.values()),
        tasks=[task(spec) for spec in crew_spec.tasks],
        process=Process.hierarchical if hierarchical else Process.sequential,
        manager_agent=agent(crew_spec.manager, delegate=True) if hierarchical and crew_spec.manager else None,
        verbose=False,
        cache=False,
        memory=False,
        tracing=False,
        share_crew=False,
    )


def _usage(output: Any, crew: Any) -> dict[str, int]:
    usage = getattr(output, "token_usage", None) or getattr(crew, "usage_metrics", None)
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {key: int(getattr(usage, key, 0) or 0) for key in keys}


async def run_crew(
    task_type: str, task_input: dict[str, Any], tools: list[ToolSpec], llm: LlmConfig, time_limit: float
) -> CrewResult:
    """Run the crew for `task_type` over `tools` (one ToolSpec per name in `CREWS[task_type].tool_names`;
    extra ones are ignored). Raises KeyError for an unknown task type, MissingTools, CrewTimeout after
    `time_limit` seconds, and lets CrewAI's own errors (an unreachable LLM, ...) through."""
    crew_spec = CREWS[task_type]
    by_name = {spec.name: spec for spec in tools}
    missing = [name for name in crew_spec.tool_names if name not in by_name]
    if missing:
        raise MissingTools(f"crew {task_type!r} needs tools {missing}")
    bridge = _Bridge(asyncio.get_running_loop())
    log.info("crew %s starting on %s with tools %s", task_type, llm.model, list(crew_spec.tool_names))

    # The first import of crewai takes seconds: done in a thread (the loop keeps serving) and not
    # counted against the time limit, which is for the crew's work.
    await asyncio.to_thread(_tool_class)
    crewai_tools = {name: _make_tool(by_name[name], bridge) for name in crew_spec.tool_names}

    async def build_and_run() -> tuple[Any, Any]:
        crew = await asyncio.to_thread(_build_crew, crew_spec, task_input, crewai_tools, llm)
        return crew, await crew.akickoff()

    try:
        crew, output = await asyncio.wait_for(build_and_run(), timeout=time_limit)
    except TimeoutError:
        raise CrewTimeout(f"crew {task_type!r} did not finish within {time_limit:g}s") from None
    finally:
        bridge.close()
    return CrewResult(
        engine=f"crewai:{llm.model}",
        output=str(getattr(output, "raw", output)),
        token_usage=_usage(output, crew),
        tool_calls=list(bridge.calls),
    )
