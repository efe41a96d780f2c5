"""`python -m shared.events.dead` as a real process against the scratch Redis database."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from shared.database import Connection
from shared.events.envelope import Event
from shared.fleet import REPO_ROOT
from tests.support.evbus import commit_events, consumer_for, relay_for
from tests.support.evtest import EVTEST, STREAM
from tests.support.stack import Stack


def dead_cli(*args: str, redis_url: str | None) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "REDIS_URL"}
    env["PYTHONPATH"] = str(REPO_ROOT)
    if redis_url is not None:
        env["REDIS_URL"] = redis_url
    return subprocess.run(
        [sys.executable, "-m", "shared.events.dead", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


async def test_list_and_replay_a_dead_letter_from_the_command_line(
    stack: Stack, evtest_db, redis, owner_engine
) -> None:
    async def rejecting(conn: Connection, event: Event) -> None:
        raise ValueError("downstream said no")

    [event] = await commit_events(evtest_db, 1, note="doomed")
    await relay_for(evtest_db, redis).drain()
    [(original_id, original)] = await redis.xrange(STREAM)
    consumer = consumer_for(evtest_db, redis, rejecting, max_deliveries=1)
    await consumer.ensure_groups()
    assert await consumer.poll_once(block_ms=50) == 1  # fails once: dead at once with N = 1

    listed = dead_cli("list", redis_url=stack.scratch_redis_url)
    assert listed.returncode == 0, listed.stderr
    [line] = listed.stdout.splitlines()
    dead = json.loads(line)
    assert dead["reason"] == "handler_failed"
    assert "ValueError: downstream said no" in dead["error"]
    assert dead["stream"] == STREAM and dead["group"] == EVTEST.name
    assert dead["message_id"] == original_id.decode() and dead["deliveries"] == 1
    assert dead["event"] == original[b"event"].decode()  # the original envelope, byte for byte
    assert Event.from_json(dead["event"]) == event

    replayed = dead_cli("replay", dead["id"], redis_url=stack.scratch_redis_url)
    assert replayed.returncode == 0, replayed.stderr
    new_id = replayed.stdout.strip()
    [(stream_id, fields)] = await redis.xrange(STREAM, min=new_id, max=new_id)
    assert stream_id.decode() == new_id != original_id.decode()
    assert fields == {b"event": original[b"event"]}
    assert await redis.xlen("events.dead") == 0

    relisted = dead_cli("list", redis_url=stack.scratch_redis_url)
    assert relisted.returncode == 0 and relisted.stdout == "", relisted


def test_the_command_line_without_redis_url_exits_2_with_one_line() -> None:
    for args in (["list"], ["replay", "1-0"]):
        result = dead_cli(*args, redis_url=None)
        assert result.returncode == 2, result
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert "REDIS_URL" in line
