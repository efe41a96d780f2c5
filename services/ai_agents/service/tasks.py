"""Tasks: asked for over HTTP (202), run by a worker outside the request, followed at
`GET /ai/tasks/{id}`.

A worker claims a due task (one atomic UPDATE across replicas), runs it under a time limit,
records each step (which also renews its lease and tells it whether a cancel was asked for), and
stores the result with the engine that produced it. A task left running by a dead worker is
taken again when its lease lapses, and failed after MAX_RUNS; it is never stuck.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.ai_agents.domain import tasks as lifecycle
from services.ai_agents.events import RecommendationCreated, TaskCompleted, TaskFailed
from services.ai_agents.models import Task
from services.ai_agents.service.common import BACKGROUND_ROLE, AgentUnitOfWork
from services.ai_agents.service.fleet import FleetReader
from services.ai_agents.service.memory import Memory
from services.ai_agents.service.runs import Outcome, complete_after_crew, near_duplicate, run_pipeline
from services.ai_agents.service.toolbox import ToolBox
from services.ai_agents.tools.fetch import FetchError, FetchPolicy
from shared import errors
from shared.clock import utcnow
from shared.events.delivery import is_infrastructure_error
from shared.outage import Outage, run_periodically

logger = logging.getLogger("ai_agents.tasks")


class Cancelled(Exception):
    """A cancel was asked for while the task ran."""


@dataclass(frozen=True)
class WorkerPolicy:
    lease_seconds: float
    time_limit_seconds: float
    concurrency: int
    max_pages: int


class Tasks:
    def __init__(self, uow: AgentUnitOfWork) -> None:
        self.uow = uow

    async def create(
        self, tenant_id: uuid.UUID, task_type: str, task_input: dict[str, Any], requested_by: str
    ) -> Task:
        lifecycle.check_type(task_type)
        async with self.uow(tenant_id) as work:
            return await work.repo.add(Task(uuid.uuid4(), tenant_id, task_type, task_input, requested_by))

    async def get(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> Task:
        async with self.uow(tenant_id) as work:
            task = await work.repo.task(task_id)
        if task is None:
            raise errors.NotFound("no such task")
        return task

    async def list(
        self,
        tenant_id: uuid.UUID,
        status: str | None,
        task_type: str | None,
        limit: int,
        after: tuple[datetime, uuid.UUID] | None,
    ) -> list[Task]:
        async with self.uow(tenant_id) as work:
            return await work.repo.tasks(status, task_type, limit, after)

    async def cancel(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> Task:
        """A queued task is cancelled at once; a running one at its next step."""
        async with self.uow(tenant_id) as work:
            task = await work.repo.task(task_id, for_update=True)
            if task is None:
                raise errors.NotFound("no such task")
            if task.status == "queued":
                lifecycle.move(task.status, "cancelled")
                return await work.repo.update(task, status="cancelled", finished_at=utcnow())
            if task.status == "running":
                return await work.repo.update(task, cancel_requested=True)
            lifecycle.move(task.status, "cancelled")  # raises IllegalMove naming the state
            return task


class TaskWorker:
    def __init__(
        self,
        uow: AgentUnitOfWork,
        fleet: FleetReader,
        memory: Memory,
        fetch_policy: FetchPolicy,
        policy: WorkerPolicy,
        crews: Any | None,
    ) -> None:
        self.uow = uow
        self.fleet = fleet
        self.memory = memory
        self.fetch_policy = fetch_policy
        self.policy = policy
        self.crews = crews  # services.ai_agents.service.crew_engine.CrewEngine when an LLM is configured
        self._slots = asyncio.Semaphore(policy.concurrency)
        self._outage = Outage(logger, "task worker: database")

    @property
    def engine(self) -> str:
        return self.crews.engine if self.crews is not None else "tools-only"

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        await run_periodically(stop, interval, self.tick, self._outage, is_infrastructure_error)

    async def tick(self) -> int:
        async with self.uow(None) as work:
            due = await work.read_as(BACKGROUND_ROLE, lambda: work.repo.due_tasks(self.policy.concurrency))
        await asyncio.gather(*(self._guarded(t, i) for t, i in due), return_exceptions=True)
        return len(due)

    async def _guarded(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> None:
        async with self._slots:
            try:
                await self.process(tenant_id, task_id)
            except Exception:
                logger.exception("task %s: unexpected failure", task_id)
                raise

    def _lease(self) -> datetime:
        return utcnow() + timedelta(seconds=self.policy.lease_seconds)

    async def process(self, tenant_id: uuid.UUID, task_id: uuid.UUID) -> None:
        async with self.uow(tenant_id) as work:
            task = await work.repo.claim(task_id, self._lease())
        if task is None:
            return
        if task.runs > lifecycle.MAX_RUNS:
            await self._fail(task, f"its worker stopped {lifecycle.MAX_RUNS} times before it finished")
            return

        async def step(name: str) -> None:
            async with self.uow(tenant_id) as work:
                cancel = await work.repo.add_step(
                    task.id, {"step": name, "at": utcnow().isoformat()}, self._lease()
                )
            if cancel:
                raise Cancelled

        box = ToolBox(tenant_id, self.fetch_policy, self.fleet, self.policy.max_pages, self.memory)
        try:
            outcome = await asyncio.wait_for(self._execute(task, box, step), self.policy.time_limit_seconds)
        except Cancelled:
            await self._finish(task, "cancelled", None)
        except TimeoutError:
            await self._fail(task, f"the time limit of {self.policy.time_limit_seconds:.0f} s was reached")
        except (errors.DomainError, FetchError, ValueError, KeyError) as error:
            await self._fail(task, f"{type(error).__name__}: {error}")
        else:
            await self._finish(task, "succeeded", outcome)

    async def _execute(self, task: Task, box: ToolBox, step: Any) -> Outcome:
        if self.crews is None:
            return await run_pipeline(task, box, step)
        await step(f"crew reasoning with {self.crews.engine}")
        outcome = await self.crews.run(task, box, self.policy.time_limit_seconds)
        await step("completing the tools the task promises")
        await complete_after_crew(task, box)
        outcome.result = {**outcome.result, **box.results}
        return outcome

    async def _finish(self, task: Task, status: str, outcome: Outcome | None) -> None:
        async with self.uow(task.tenant_id) as work:
            current = await work.repo.task(task.id, for_update=True)
            if current is None or current.status != "running":
                return
            result = dict(outcome.result) if outcome else None
            if outcome is not None:
                for kind, title, body in outcome.memory:
                    content_id, nearest = await self.memory.remember(work, kind, title, body, task.id)
                    result = {**(result or {}), "content_id": str(content_id)}
                    if kind.startswith("content") and (warning := near_duplicate(nearest)):
                        result["near_duplicate"] = warning
            await work.repo.update(
                current,
                status=status,
                result=result,
                engine=outcome.engine if outcome else current.engine,
                token_usage=outcome.token_usage if outcome else None,
                lease_until=None,
                finished_at=utcnow(),
            )
            if outcome is None:
                return
            await work.emit(
                TaskCompleted(
                    task_id=task.id,
                    type=task.type,
                    requested_by=task.requested_by,
                    engine=outcome.engine,
                    summary=outcome.summary,
                )
            )
            plan = outcome.result.get("plan_budget")
            if task.type == "campaign_optimization" and plan:
                await work.emit(
                    RecommendationCreated(
                        task_id=task.id, campaign_id=uuid.UUID(plan["campaign_id"]), items=plan["items"]
                    )
                )

    async def _fail(self, task: Task, error: str) -> None:
        async with self.uow(task.tenant_id) as work:
            current = await work.repo.task(task.id, for_update=True)
            if current is None or current.status != "running":
                return
            await work.repo.update(
                current, status="failed", error=error[:2000], lease_until=None, finished_at=utcnow()
            )
            await work.emit(
                TaskFailed(
                    task_id=task.id,
                    type=task.type,
                    requested_by=task.requested_by,
                    engine=current.engine,
                    error=error[:1000],
                )
            )
