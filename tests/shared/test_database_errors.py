"""Bound values and row data stay out of error strings, hence out of logs and dead letters.

The engine hides its parameters (`hide_parameters`), but the driver and PostgreSQL put values in
their own messages too ("invalid input for query argument $1: 'x'", "Key (email)=(x) already
exists"), so logs and dead letters carry a summary of database errors instead of their text.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.database import create_engine, create_session_factory
from shared.events.consumer import EventConsumer
from shared.events.dead import list_dead
from shared.events.envelope import Event
from shared.observability import JsonFormatter, safe_error_text
from tests.support.evtest import EVENT_TYPE, EVTEST, OUTBOX, make_event
from tests.support.kit import eventually_async
from tests.support.stack import Stack

TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000d1")


async def _failing_statement(stack: Stack, secret: str) -> DBAPIError:
    engine = create_engine(stack.runtime_url("user_management"), pool_size=1)
    try:
        async with engine.connect() as conn:
            with pytest.raises(DBAPIError) as caught:
                await conn.execute(text("select cast(:value as integer)"), {"value": secret})
    finally:
        await engine.dispose()
    return caught.value


async def test_the_engine_hides_parameters_and_the_summary_hides_the_drivers_message(stack: Stack) -> None:
    secret = uuid.uuid4().hex
    error = await _failing_statement(stack, secret)
    assert "hidden due to hide_parameters" in str(error)
    assert secret[:20] in str(error)  # the driver's own message still quotes it: hence the summary
    summary = safe_error_text(error)
    assert secret[:8] not in summary
    assert summary.startswith("DBAPIError (") and "details hidden" in summary


async def test_a_logged_database_error_shows_no_value(stack: Stack) -> None:
    secret = uuid.uuid4().hex
    error = await _failing_statement(stack, secret)
    record = logging.LogRecord(
        "probe", logging.ERROR, __file__, 1, "it failed", None, (type(error), error, None)
    )
    line = json.loads(JsonFormatter("probe").format(record))
    assert "DBAPIError" in line["exception"] and secret[:8] not in line["exception"]
    try:
        raise RuntimeError(f"an ordinary error keeps its message {secret}")
    except RuntimeError:
        plain = logging.LogRecord("probe", logging.ERROR, __file__, 1, "x", None, sys.exc_info())
    assert secret in json.loads(JsonFormatter("probe").format(plain))["exception"]


async def test_a_dead_letter_carries_no_value_of_the_failing_statement(
    stack: Stack, evtest_engine: AsyncEngine, redis
) -> None:  # type: ignore[no-untyped-def]
    secret = uuid.uuid4().hex

    async def writes_garbage(session: AsyncSession, event: Event) -> None:
        await session.execute(text("select cast(:value as integer)"), {"value": secret})

    sessions = create_session_factory(evtest_engine)
    async with sessions() as session, session.begin():
        await OUTBOX.add_event(session, make_event(TENANT, note="x"))
    from shared.events.relay import OutboxRelay

    await OutboxRelay(evtest_engine, redis, schema="evtest", service="campaign_management").drain()
    consumer = EventConsumer(
        redis,
        sessions,
        service=EVTEST.name,
        schema="evtest",
        handlers={EVENT_TYPE: writes_garbage},
        max_deliveries=1,
        visibility_timeout_ms=100,
    )
    await consumer.ensure_groups()

    async def dead() -> list:  # type: ignore[type-arg]
        await consumer.poll_once(block_ms=50)
        await consumer.reclaim()
        return await list_dead(redis)

    [letter] = await eventually_async(dead)
    assert letter.reason == "handler_failed"
    assert "DBAPIError" in letter.error and secret[:8] not in letter.error
