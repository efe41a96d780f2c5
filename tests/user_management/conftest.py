"""user_management runs as a real uvicorn process on the session's PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from devstack.fleet import Fleet
from shared.fleet import spec
from tests.conftest import Stack

SERVICE = spec("user_management")


@pytest.fixture(scope="session")
def user_service(stack: Stack) -> Iterator[str]:
    """Base URL of a running user_management; lockout after 5 failures, as in production."""
    fleet = Fleet(
        env=stack.env,
        ports={SERVICE.name: int(stack.env["USER_MANAGEMENT_URL"].rsplit(":", 1)[1])},
        log_dir=stack.workdir / "logs",
        services=(SERVICE,),
    )
    fleet.start()
    try:
        fleet.wait_ready(timeout=60)
        yield stack.env["USER_MANAGEMENT_URL"]
    finally:
        fleet.stop()


@pytest.fixture
async def api(user_service: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=user_service, timeout=10) as client:
        yield client
