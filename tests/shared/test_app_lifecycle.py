"""The app factory's start and stop: the container is built before anything runs in the
background, and a failing build leaves nothing running."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import pytest

from services.analytics.settings import Settings as AnalyticsSettings
from shared.app import create_service_app
from shared.database import Connection
from shared.events.envelope import Event
from shared.infrastructure import BackgroundTask, BaseContainer, Infrastructure
from tests.support.stack import Stack


def _settings(stack: Stack) -> AnalyticsSettings:
    return AnalyticsSettings(
        REDIS_URL=stack.scratch_redis_url,
        JWKS_URL="http://127.0.0.1:9/.well-known/jwks.json",
        ANALYTICS_DATABASE_URL=stack.runtime_url("analytics"),
    )


@dataclass
class Probe(BaseContainer):
    ran: asyncio.Event
    closed: bool = False

    def background_tasks(self) -> list[BackgroundTask]:
        async def work(stop: asyncio.Event) -> None:
            self.ran.set()
            await stop.wait()

        return [("probe-worker", work)]

    async def aclose(self) -> None:
        self.closed = True


def _background_names() -> set[str]:
    return {task.get_name() for task in asyncio.all_tasks() if task is not asyncio.current_task()}


async def test_background_work_starts_after_the_container_and_stops_before_it_closes(stack: Stack) -> None:
    built: list[Probe] = []

    async def build(infra: Infrastructure, settings: AnalyticsSettings) -> Probe:
        assert not {"outbox-relay", "event-consumer"} & _background_names()  # nothing runs yet
        probe = Probe(infra, asyncio.Event())
        built.append(probe)
        return probe

    async def on_metrics(conn: Connection, event: Event) -> None:
        return None

    app = create_service_app(
        _settings(stack),
        title="Probe",
        build=build,
        handlers=lambda c: {"integration.sync_completed": on_metrics},
    )
    async with app.router.lifespan_context(app):
        assert app.state.container is built[0]
        await asyncio.wait_for(built[0].ran.wait(), timeout=10)
        assert {"outbox-relay", "event-consumer", "probe-worker"} <= _background_names()
    assert built[0].closed
    assert not {"outbox-relay", "event-consumer", "probe-worker"} & _background_names()


async def test_a_failing_build_leaves_nothing_running(stack: Stack) -> None:
    async def build(infra: Infrastructure, settings: AnalyticsSettings) -> Probe:
        raise RuntimeError("the signing key is unreadable")

    before = _background_names()
    app = create_service_app(_settings(stack), title="Probe", build=build)
    with pytest.raises(RuntimeError, match="unreadable"):
        async with app.router.lifespan_context(app):
            pass
    await asyncio.sleep(0)
    assert _background_names() == before
