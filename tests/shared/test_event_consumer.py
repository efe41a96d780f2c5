"""The event consumer against real PostgreSQL and Redis: redelivery cap, producer trust, metrics."""

from __future__ import annotations

import uuid

import pytest
from redis.asyncio import Redis

from shared import errors
from shared.database import Connection
from shared.events.catalog import DEAD_LETTER_STREAM
from shared.events.consumer import Malformed, parse_event
from shared.events.dead import list_dead
from shared.events.envelope import Event
from tests.support.evbus import (
    TENANT,
    commit_events,
    consumer_for,
    effects,
    group_caught_up,
    metric,
    recording,
    relay_for,
)
from tests.support.evtest import EVENT_TYPE, EVTEST, PRODUCER, STREAM, make_event, recording_handler
from tests.support.kit import eventually_async

INTEGRATION_STREAM = "events.integration"
INTEGRATION_TYPE = "integration.connected"


async def _pending(redis: Redis, stream: str = STREAM) -> int:
    return int((await redis.xpending(stream, EVTEST.name))["pending"])


async def test_a_message_delivered_more_than_4n_times_is_dead_lettered_when_reclaimed(
    evtest_db, redis, owner_engine
) -> None:
    at_cap, over_cap = await commit_events(evtest_db, 2)
    await relay_for(evtest_db, redis).drain()
    calls: list[uuid.UUID] = []
    consumer = consumer_for(evtest_db, redis, recording(calls), name="survivor", max_deliveries=2)
    cap = 4 * 2
    await consumer.ensure_groups()
    dead_before = metric("events_dead_total", service=EVTEST.name, reason="redelivery_cap")

    # A consumer that crashes on these messages: it reads them and never acks; every crash and
    # takeover (XCLAIM) counts one more delivery, while no handler ever fails.
    read = await redis.xreadgroup(EVTEST.name, "crasher", {STREAM: ">"}, count=10)
    ids = {Event.from_json(fields[b"event"]).id: mid for mid, fields in read[0][1]}
    assert set(ids) == {at_cap.id, over_cap.id}
    for _ in range(cap - 2):
        await redis.xclaim(STREAM, EVTEST.name, "crasher", 0, list(ids.values()))
    await redis.xclaim(STREAM, EVTEST.name, "crasher", 0, [ids[over_cap.id]])
    delivered = {
        d["message_id"]: d["times_delivered"]
        for d in await redis.xpending_range(STREAM, EVTEST.name, min="-", max="+", count=10)
    }
    # the survivor's XAUTOCLAIM adds one more: at_cap reaches exactly 4N, over_cap 4N + 1
    assert delivered == {ids[at_cap.id]: cap - 1, ids[over_cap.id]: cap}

    async def settled() -> bool:
        await consumer.reclaim()
        return await group_caught_up(redis, STREAM)  # both messages handled or dead-lettered

    await eventually_async(settled, timeout=10)

    letters = await list_dead(redis)
    assert [(Event.from_json(d.event).id, d.reason) for d in letters] == [(over_cap.id, "redelivery_cap")]
    [dead] = letters
    assert dead.deliveries == cap + 1 and f"delivered {cap + 1} times" in dead.error
    assert "consumer crashed or timed out" in dead.error
    assert (
        dead.stream == STREAM and dead.group == EVTEST.name and dead.message_id == ids[over_cap.id].decode()
    )
    assert calls == [at_cap.id]  # the capped message never reached the handler
    assert await effects(owner_engine) == [(at_cap.id, "c1")]
    assert await _pending(redis) == 0
    assert metric("events_dead_total", service=EVTEST.name, reason="redelivery_cap") == dead_before + 1


# ---- producer trust -------------------------------------------------------------------------


def _integration_event() -> Event:
    return Event(type=INTEGRATION_TYPE, tenant_id=TENANT, producer="integration", data={"note": "ok"})


@pytest.mark.parametrize(
    ("event", "stream", "fragment"),
    [
        (make_event(TENANT).model_copy(update={"producer": "integration"}), STREAM, "not 'integration'"),
        (make_event(TENANT).model_copy(update={"producer": "integration"}), None, "not 'integration'"),
        (make_event(TENANT), INTEGRATION_STREAM, "read from events.integration"),
        (make_event(TENANT), "events.dead", "read from events.dead"),
        (_integration_event(), STREAM, "read from events.campaign_management"),
    ],
    ids=[
        "wrong-producer",
        "wrong-producer-any-stream",
        "other-stream",
        "dead-stream",
        "integration-on-campaign",
    ],
)
def test_parse_event_refuses_an_event_from_anyone_but_its_rightful_producer(
    event: Event, stream: str | None, fragment: str
) -> None:
    with pytest.raises(Malformed) as refused:
        parse_event(event.to_json().encode(), stream)
    assert refused.value.reason == "untrusted_producer"
    assert fragment in str(refused.value)


def test_parse_event_accepts_the_rightful_producer_on_its_own_stream() -> None:
    event = make_event(TENANT, "fine")
    assert parse_event(event.to_json().encode(), STREAM) == event
    assert parse_event(event.to_json().encode()) == event
    other = _integration_event()
    assert parse_event(other.to_json().encode(), INTEGRATION_STREAM) == other


async def test_consumer_dead_letters_forged_producers_and_streams_and_handles_the_rest(
    evtest_db, redis, owner_engine
) -> None:
    calls: list[uuid.UUID] = []
    consumer = consumer_for(
        evtest_db,
        redis,
        handlers={
            EVENT_TYPE: recording(calls),
            INTEGRATION_TYPE: recording(calls, recording_handler("c1")),
        },
    )
    assert consumer.streams == [STREAM, INTEGRATION_STREAM]
    await consumer.ensure_groups()
    untrusted_before = metric("events_dead_total", service=EVTEST.name, reason="untrusted_producer")

    on_wrong_stream = make_event(TENANT, "on integration's stream")  # producer campaign_management
    wrong_producer = make_event(TENANT, "claims integration").model_copy(update={"producer": "integration"})
    integration_on_campaign = _integration_event()
    good = make_event(TENANT, "good")
    good_integration = _integration_event()
    forged = {
        on_wrong_stream.id: INTEGRATION_STREAM,
        wrong_producer.id: STREAM,
        integration_on_campaign.id: STREAM,
    }
    for event, stream in [
        (on_wrong_stream, INTEGRATION_STREAM),
        (wrong_producer, STREAM),
        (integration_on_campaign, STREAM),
        (good, STREAM),
        (good_integration, INTEGRATION_STREAM),
    ]:
        await redis.xadd(stream, {"event": event.to_json()})

    async def settled() -> bool:
        await consumer.poll_once(block_ms=50)
        return await group_caught_up(redis, STREAM) and await group_caught_up(redis, INTEGRATION_STREAM)

    await eventually_async(settled, timeout=10)

    assert sorted(calls) == sorted([good.id, good_integration.id])
    assert sorted(e for e, _ in await effects(owner_engine)) == sorted([good.id, good_integration.id])
    dead = await list_dead(redis)
    assert {Event.from_json(d.event).id: d.stream for d in dead} == forged
    assert {d.reason for d in dead} == {"untrusted_producer"}
    assert await _pending(redis, STREAM) == 0 and await _pending(redis, INTEGRATION_STREAM) == 0
    assert (
        metric("events_dead_total", service=EVTEST.name, reason="untrusted_producer") == untrusted_before + 3
    )


# ---- metrics --------------------------------------------------------------------------------


async def test_event_metrics_follow_publishing_handling_failures_duplicates_and_dead_letters(
    evtest_db, redis, owner_engine
) -> None:
    broken = True

    async def picky(conn: Connection, event: Event) -> None:
        if broken and event.data["note"].startswith("bad"):
            raise ValueError("not yet")
        await recording_handler("c1")(conn, event)

    def counters() -> dict[str, float]:
        return {
            "published": metric("events_published_total", service=PRODUCER, stream=STREAM),
            "handled": metric("events_handled_total", service=EVTEST.name, type=EVENT_TYPE),
            "failed": metric("events_failed_total", service=EVTEST.name, type=EVENT_TYPE),
            "duplicate": metric("events_duplicate_total", service=EVTEST.name),
            "malformed": metric("events_dead_total", service=EVTEST.name, reason="malformed"),
        }

    def moved(before: dict[str, float]) -> dict[str, float]:
        now = counters()
        return {name: now[name] - before[name] for name in now if now[name] != before[name]}

    relay = relay_for(evtest_db, redis)
    good = await commit_events(evtest_db, 2, note="good")
    [bad] = await commit_events(evtest_db, 1, note="bad")
    await relay._housekeeping()
    assert metric("outbox_unpublished", service=PRODUCER) == 3

    start = counters()
    assert await relay.drain() == 3
    assert moved(start) == {"published": 3}
    await relay._housekeeping()
    assert metric("outbox_unpublished", service=PRODUCER) == 0

    # one handler failure, two events handled; the failed one stays pending
    slow = consumer_for(evtest_db, redis, picky, name="c1", max_deliveries=10, visibility_timeout_ms=60_000)
    await slow.ensure_groups()
    start = counters()
    assert await slow.poll_once(block_ms=50) == 3
    assert moved(start) == {"handled": 2, "failed": 1}
    await slow.reclaim()  # nothing is idle for 60 s yet, but the gauge is refreshed
    assert metric("events_pending", service=EVTEST.name, stream=STREAM) == 1

    # the handler recovers; another consumer reclaims the idle message
    broken = False
    fast = consumer_for(evtest_db, redis, picky, name="c2", max_deliveries=10, visibility_timeout_ms=100)
    start = counters()
    await eventually_async(fast.reclaim, timeout=10)
    assert moved(start) == {"handled": 1}
    assert metric("events_pending", service=EVTEST.name, stream=STREAM) == 0
    assert sorted(e for e, _ in await effects(owner_engine)) == sorted([*(e.id for e in good), bad.id])

    # the same event delivered again: a duplicate, no second effect
    [(_, fields)] = await redis.xrange(STREAM, count=1)
    await redis.xadd(STREAM, {"event": fields[b"event"]})
    start = counters()
    assert await fast.poll_once(block_ms=50) == 1
    counted = moved(start)
    counted.pop("handled", None)  # see test_a_duplicate_delivery_is_not_counted_as_handled
    assert counted == {"duplicate": 1}
    assert len(await effects(owner_engine)) == 3

    # a malformed message goes to the dead letters, counted by reason
    await redis.xadd(STREAM, {"event": b"{not json"})
    start = counters()
    assert await fast.poll_once(block_ms=50) == 1
    assert moved(start) == {"malformed": 1}
    assert [d.reason for d in await list_dead(redis)] == ["malformed"]


async def test_a_duplicate_delivery_is_not_counted_as_handled(evtest_db, redis, owner_engine) -> None:
    [event] = await commit_events(evtest_db, 1)
    await relay_for(evtest_db, redis).drain()
    consumer = consumer_for(evtest_db, redis)
    await consumer.ensure_groups()
    assert await consumer.poll_once(block_ms=50) == 1
    await redis.xadd(STREAM, {"event": event.to_json()})
    handled = metric("events_handled_total", service=EVTEST.name, type=EVENT_TYPE)
    duplicates = metric("events_duplicate_total", service=EVTEST.name)

    assert await consumer.poll_once(block_ms=50) == 1

    assert await effects(owner_engine) == [(event.id, "c1")]
    assert metric("events_duplicate_total", service=EVTEST.name) == duplicates + 1
    assert metric("events_handled_total", service=EVTEST.name, type=EVENT_TYPE) == handled


async def test_a_pending_message_trimmed_from_its_stream_is_acked_and_counted_as_lost(
    evtest_db, redis, owner_engine
) -> None:
    """A consumer was down while the relay's MAXLEN trimmed a message it had read but not acked:
    nothing is left to handle, so it must not stay pending (and be claimed) forever."""
    await commit_events(evtest_db, 1)
    await relay_for(evtest_db, redis).drain()
    consumer = consumer_for(evtest_db, redis)
    await consumer.ensure_groups()
    await redis.xreadgroup(EVTEST.name, "gone-away", {STREAM: ">"}, count=10)  # read, never acked
    await redis.xtrim(STREAM, maxlen=0)
    lost = metric("events_lost_total", service=EVTEST.name, stream=STREAM)

    async def settled() -> bool:
        await consumer.reclaim()
        return await _pending(redis) == 0

    await eventually_async(settled)
    assert metric("events_lost_total", service=EVTEST.name, stream=STREAM) == lost + 1
    assert await effects(owner_engine) == []


async def test_an_event_its_handler_refuses_as_invalid_is_dead_lettered_at_once(evtest_db, redis) -> None:
    """InvalidInput says the event itself is wrong: retrying it max_deliveries times changes nothing."""

    async def refusing(conn: Connection, event: Event) -> None:
        raise errors.InvalidInput("row 3 is not a number")

    await commit_events(evtest_db, 1, note="refused")
    await relay_for(evtest_db, redis).drain()
    consumer = consumer_for(evtest_db, redis, refusing, max_deliveries=5)
    await consumer.ensure_groups()
    assert await consumer.poll_once(block_ms=50) == 1
    [(_, letter)] = await redis.xrange(DEAD_LETTER_STREAM)
    assert letter[b"reason"] == b"rejected" and b"row 3 is not a number" in letter[b"error"]
    assert (await redis.xpending(STREAM, consumer.group))["pending"] == 0
