"""user_management runs as a real uvicorn process on the session's PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def api(user_service: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=user_service, timeout=10) as client:
        yield client
