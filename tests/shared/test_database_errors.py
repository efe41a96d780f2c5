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

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.database import Connection, Database
from shared.events.consumer import EventConsumer
from shared.events.dead import list_dead
from shared.events.envelope import Event
from shared.observability import JsonFormatter, safe_error_text
from tests.support.evtest import EVENT_TYPE, EVTEST, OUTBOX, make_event
from tests.support.kit import eventually_async
from tests.support.stack import Stack

TENANT = uuid.UUID("00000000-0000-4000-8000-0000000000d1")


async def _failing_statement(stack: Stack, secret: str) -> Exception:
    database = await Database(stack.runtime_url("user_management"), pool_size=1).open()
    try:
        with pytest.raises(asyncpg.DataError) as caught:
            async with database.transaction() as conn:
                await conn.execute("select $1::integer", secret)
    finally:
        await database.close()
    return caught.value


async def _unique_violation(stack: Stack, owner_engine: AsyncEngine, secret: str) -> Exception:
    database = await Database(stack.runtime_url("user_management"), pool_size=1).open()
    email = f"{secret}@acme.io"
    tenant = uuid.uuid4()
    try:
        with pytest.raises(asyncpg.UniqueViolationError) as caught:
            async with database.transaction(tenant) as conn:
                await conn.execute(
                    "insert into users.tenants (id, name, plan) values ($1, 'x', 'basic')", tenant
                )
                for _ in range(2):
                    await conn.execute(
                        "insert into users.users (id, tenant_id, email, full_name, role) values ($1, $2, $3, 'x', 'owner')",
                        uuid.uuid4(),
                        tenant,
                        email,
                    )
    finally:
        await database.close()
    return caught.value


async def test_the_summary_hides_the_values_the_driver_and_the_server_quote(
    stack: Stack, owner_engine: AsyncEngine
) -> None:
    secret = uuid.uuid4().hex
    error = await _failing_statement(stack, secret)
    assert secret[:20] in str(error)  # the driver's own message quotes the value: hence the summary
    summary = safe_error_text(error)
    assert secret[:8] not in summary
    assert summary.startswith("DataError (") and "details hidden" in summary

    duplicate = await _unique_violation(stack, owner_engine, secret)
    summary = safe_error_text(duplicate)
    assert secret[:8] not in summary
    assert "SQLSTATE 23505" in summary and "constraint users_email_unique" in summary


async def test_a_logged_database_error_shows_no_value(stack: Stack) -> None:
    secret = uuid.uuid4().hex
    error = await _failing_statement(stack, secret)
    record = logging.LogRecord(
        "probe", logging.ERROR, __file__, 1, "it failed", None, (type(error), error, None)
    )
    line = json.loads(JsonFormatter("probe").format(record))
    assert "DataError" in line["exception"] and secret[:8] not in line["exception"]
    try:
        raise RuntimeError(f"an ordinary error keeps its message {secret}")
    except RuntimeError:
        plain = logging.LogRecord("probe", logging.ERROR, __file__, 1, "x", None, sys.exc_info())
    assert secret in json.loads(JsonFormatter("probe").format(plain))["exception"]


async def test_a_dead_letter_carries_no_value_of_the_failing_statement(
    stack: Stack, evtest_db: Database, redis
) -> None:  # type: ignore[no-untyped-def]
    secret = uuid.uuid4().hex

    async def writes_garbage(conn: Connection, event: Event) -> None:
        await conn.execute("select $1::integer", secret)

    async with evtest_db.transaction(TENANT) as conn:
        await OUTBOX.add_event(conn, make_event(TENANT, note="x"))
    from shared.events.relay import OutboxRelay

    await OutboxRelay(evtest_db, redis, schema="evtest", service="campaign_management").drain()
    consumer = EventConsumer(
        redis,
        evtest_db,
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
    assert "DataError" in letter.error and secret[:8] not in letter.error
