"""The objects of ai_agents, built once at start and handed to routes and handlers. CrewAI is not
imported here: only when a crew runs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from services.ai_agents.repository import AgentRepository
from services.ai_agents.service.crew_engine import CrewEngine
from services.ai_agents.service.fleet import FleetReader
from services.ai_agents.service.memory import Embedder, Memory
from services.ai_agents.service.tasks import Tasks, TaskWorker, WorkerPolicy
from services.ai_agents.settings import Settings
from services.ai_agents.tools.fetch import FetchPolicy
from shared.infrastructure import BackgroundTask, BaseContainer, Infrastructure
from shared.unit_of_work import UnitOfWork


@dataclass
class Container(BaseContainer):
    settings: Settings
    uow: UnitOfWork[AgentRepository]
    tasks: Tasks
    worker: TaskWorker
    memory: Memory

    def background_tasks(self) -> list[BackgroundTask]:
        return [("task-worker", partial(self.worker.run, interval=self.settings.task_poll_seconds))]


def _api_key(settings: Settings) -> str | None:
    return settings.llm_api_key.get_secret_value() if settings.llm_api_key else None


async def build(infra: Infrastructure, settings: Settings) -> Container:
    uow = UnitOfWork(infra.database, infra.outbox, AgentRepository)
    embedder = Embedder(
        str(settings.embeddings_base_url) if settings.embeddings_base_url else None,
        settings.embeddings_model,
        _api_key(settings),
    )
    memory = Memory(uow, embedder)
    crews = (
        CrewEngine(str(settings.llm_base_url), settings.llm_model, _api_key(settings) or "")
        if settings.llm_base_url and settings.llm_model
        else None
    )
    policy = WorkerPolicy(
        lease_seconds=settings.task_lease_seconds,
        time_limit_seconds=settings.task_time_limit_seconds,
        concurrency=settings.task_concurrency,
        max_pages=settings.crawl_max_pages,
    )
    worker = TaskWorker(
        uow, FleetReader(infra.peers), memory, FetchPolicy(allow=tuple(settings.fetch_allow)), policy, crews
    )
    return Container(infra=infra, settings=settings, uow=uow, tasks=Tasks(uow), worker=worker, memory=memory)
