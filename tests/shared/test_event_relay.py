"""The outbox relay against real PostgreSQL and Redis: concurrency, NOTIFY wake-up, clean-up."""

from __future__ import annotations

import asyncio
from collections import Counter

from sqlalchemy import text

from tests.support.evbus import commit_events, relay_for, stream_event_ids, unpublished
from tests.support.evtest import STREAM
from tests.support.kit import eventually_async


async def test_two_relays_draining_at_once_publish_each_row_exactly_once(
    evtest_db, redis, owner_engine
) -> None:
    events = await commit_events(evtest_db, 2000)
    first = relay_for(evtest_db, redis, batch_size=25)
    second = relay_for(evtest_db, redis, batch_size=25)

    sent = await asyncio.gather(first.drain(), second.drain())

    assert sum(sent) == 2000
    assert all(count > 0 for count in sent), sent  # both really ran against the same outbox
    published = await stream_event_ids(redis, STREAM)
    twice = [event_id for event_id, n in Counter(published).items() if n > 1]
    assert twice == [], f"{len(twice)} events were published more than once"
    assert sorted(published) == sorted(e.id for e in events)
    assert await unpublished(owner_engine) == 0


async def test_housekeeping_deletes_rows_published_more_than_72_hours_ago(
    evtest_db, redis, owner_engine
) -> None:
    old, older, recent, fresh = await commit_events(evtest_db, 4, note="published")
    relay = relay_for(evtest_db, redis)
    assert await relay.drain() == 4
    [waiting] = await commit_events(evtest_db, 1, note="unpublished")
    [waiting_long] = await commit_events(evtest_db, 1, note="unpublished-old")
    hours_ago = {old.id: 73, older.id: 30 * 24, recent.id: 71}
    async with owner_engine.begin() as conn:
        for event_id, hours in hours_ago.items():
            await conn.execute(
                text(
                    "update evtest.outbox set published_at = now() - make_interval(hours => :hours), "
                    "created_at = now() - make_interval(hours => :hours + 1) where event_id = :id"
                ),
                {"hours": hours, "id": event_id},
            )
        # unpublished for a long time (Redis was down for days): never deleted
        await conn.execute(
            text("update evtest.outbox set created_at = now() - interval '10 days' where event_id = :id"),
            {"id": waiting_long.id},
        )

    await relay._housekeeping()

    async with owner_engine.connect() as conn:
        left = set((await conn.execute(text("select event_id from evtest.outbox"))).scalars())
    assert left == {recent.id, fresh.id, waiting.id, waiting_long.id}


async def test_a_commit_wakes_the_relay_through_notify_long_before_its_poll_interval(
    evtest_db, redis
) -> None:
    relay = relay_for(evtest_db, redis, poll_interval=30.0)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        [first] = await commit_events(evtest_db, 1, note="first")
        await eventually_async(lambda: _published(redis, first.id), timeout=10)
        # The relay has published everything and now waits up to 30 s for work; only the
        # NOTIFY of the outbox trigger can get the next event out within 10 s.
        [second] = await commit_events(evtest_db, 1, note="second")
        await eventually_async(lambda: _published(redis, second.id), timeout=10)
        assert not task.done()
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)


async def _published(redis, event_id) -> bool:  # type: ignore[no-untyped-def]
    return event_id in await stream_event_ids(redis, STREAM)
