"""The per-service Redis users of shared.redis_acl, as the session stack applies them (db 0).

The services use db 0 too: nothing is flushed, every key is unique to the test and removed after,
and no message is left on a real stream.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.redis import create_redis
from tests.support.stack import Stack

SERVICE = "analytics"


def refused():  # type: ignore[no-untyped-def]
    """Redis' NOPERM (redis-py raises NoPermissionError, a ResponseError)."""
    return pytest.raises(ResponseError, match="no permissions")


@pytest.fixture
async def users(stack: Stack) -> AsyncIterator[dict[str, Redis]]:
    env = stack.env(SERVICE)
    if env["REDIS_URL"] == stack.redis_url:
        pytest.skip("this Redis server refused ACL users; the services share the admin user")
    clients = {
        setting: create_redis(env[setting], max_connections=4)
        for setting in ("REDIS_URL", "EVENTS_PUBLISHER_REDIS_URL", "EVENTS_CONSUMER_REDIS_URL")
    }
    yield clients
    for client in clients.values():
        await client.aclose()


async def test_the_publisher_appends_only_to_its_own_stream_and_the_dead_letters(
    users, fleet_redis: Redis
) -> None:
    publisher = users["EVENTS_PUBLISHER_REDIS_URL"]
    tag = uuid.uuid4().hex
    added: list[tuple[str, bytes]] = []
    try:
        for stream in ("events.analytics", "events.dead"):
            added.append((stream, await publisher.xadd(stream, {"acl_probe": tag})))
        for stream, message_id in added:
            assert await fleet_redis.xrange(stream, min=message_id, max=message_id)
    finally:
        for stream, message_id in added:
            await fleet_redis.xdel(stream, message_id)
    before = await fleet_redis.xlen("events.user_management")
    with refused():
        await publisher.xadd("events.user_management", {"acl_probe": tag})
    with refused():
        await publisher.xadd(f"events.acltest-{tag}", {"acl_probe": tag})
    with refused():
        await publisher.set(f"{SERVICE}:acltest-{tag}", "x")
    assert await fleet_redis.xlen("events.user_management") == before
    assert not await fleet_redis.exists(f"events.acltest-{tag}", f"{SERVICE}:acltest-{tag}")


async def test_the_consumer_reads_and_acks_any_stream_but_appends_nowhere(users, fleet_redis: Redis) -> None:
    consumer = users["EVENTS_CONSUMER_REDIS_URL"]
    tag = uuid.uuid4().hex
    group = f"acltest-{tag}"
    stream = "events.user_management"
    existed = await fleet_redis.exists(stream)
    probe_stream = f"events.acltest-{tag}"
    try:
        # On the real stream: a group of our own, read and ack (the services' groups are untouched).
        await consumer.xgroup_create(stream, group, id="$", mkstream=True)
        await consumer.xreadgroup(group, "probe", {stream: ">"}, count=1, block=10)
        assert await consumer.xack(stream, group, "0-1") == 0
        # A full round trip on a stream of the test's own (also an events.* key).
        message_id = await fleet_redis.xadd(probe_stream, {"event": tag})
        await consumer.xgroup_create(probe_stream, group, id="0")
        [[name, [(read_id, fields)]]] = await consumer.xreadgroup(group, "probe", {probe_stream: ">"})
        assert (name.decode(), read_id, fields) == (probe_stream, message_id, {b"event": tag.encode()})
        assert await consumer.xack(probe_stream, group, read_id) == 1

        for target in (stream, "events.analytics", "events.dead", probe_stream):
            with refused():
                await consumer.xadd(target, {"acl_probe": tag})
        with refused():
            await consumer.set(f"{SERVICE}:acltest-{tag}", "x")
        assert await fleet_redis.xlen(probe_stream) == 1
    finally:
        await fleet_redis.delete(probe_stream)
        with contextlib.suppress(ResponseError):  # the group may not have been created
            await fleet_redis.xgroup_destroy(stream, group)
        if not existed and await fleet_redis.xlen(stream) == 0:
            await fleet_redis.delete(stream)  # we created it, and nobody wrote to it meanwhile


async def test_the_main_user_keeps_to_its_own_keys(users, fleet_redis: Redis) -> None:
    main = users["REDIS_URL"]
    tag = uuid.uuid4().hex
    own = f"{SERVICE}:acltest-{tag}"
    try:
        assert await main.set(own, "mine", ex=60)
        assert await main.get(own) == b"mine"
        for key in (f"user_management:acltest-{tag}", f"events.acltest-{tag}"):
            with refused():
                await main.set(key, "theirs", ex=60)
            with refused():
                await main.get(key)
        with refused():
            await main.xadd("events.analytics", {"acl_probe": tag})
        with refused():
            await main.xrange("events.user_management", count=1)
        assert not await fleet_redis.exists(f"user_management:acltest-{tag}", f"events.acltest-{tag}")
    finally:
        await fleet_redis.delete(own)
