"""Listing and replaying dead letters (`events.dead`).

Replay puts the original message back on its original stream and deletes the dead entry in one
MULTI; every group sees it again, which is harmless because handlers dedupe by event id.
Usage: `python -m shared.events.dead list [--count N]` or `python -m shared.events.dead replay ID`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from dataclasses import asdict, dataclass

from redis.asyncio import Redis

from shared.events.catalog import DEAD_LETTER_STREAM
from shared.redis import create_redis


@dataclass(frozen=True)
class DeadLetter:
    id: str
    stream: str
    group: str
    message_id: str
    reason: str
    error: str
    deliveries: int
    dead_at: str
    event: str


def _decode(entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
    def get(name: str) -> str:
        return fields.get(name.encode(), b"").decode(errors="replace")

    return DeadLetter(
        id=entry_id.decode() if isinstance(entry_id, bytes) else entry_id,
        stream=get("stream"),
        group=get("group"),
        message_id=get("message_id"),
        reason=get("reason"),
        error=get("error"),
        deliveries=int(get("deliveries") or 0),
        dead_at=get("dead_at"),
        event=get("event"),
    )


async def list_dead(redis: Redis, count: int = 100, after: str = "-") -> list[DeadLetter]:
    start = after if after == "-" else f"({after}"
    entries = await redis.xrange(DEAD_LETTER_STREAM, min=start, max="+", count=count)
    return [_decode(entry_id, fields) for entry_id, fields in entries]


async def replay(redis: Redis, dead_id: str) -> str:
    """Put one dead message back on its stream; returns the new message id."""
    entries = await redis.xrange(DEAD_LETTER_STREAM, min=dead_id, max=dead_id)
    if not entries:
        raise KeyError(dead_id)
    dead = _decode(*entries[0])
    pipe = redis.pipeline(transaction=True)
    pipe.xadd(dead.stream, {"event": dead.event})
    pipe.xdel(DEAD_LETTER_STREAM, dead_id)
    new_id, _ = await pipe.execute()
    return new_id.decode() if isinstance(new_id, bytes) else new_id


async def _cli(args: argparse.Namespace) -> int:
    redis = create_redis(os.environ["REDIS_URL"])
    try:
        if args.command == "replay":
            print(await replay(redis, args.id))
        else:
            for dead in await list_dead(redis, args.count):
                print(json.dumps(asdict(dead)))
    finally:
        await redis.aclose()
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.events.dead")
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list")
    listing.add_argument("--count", type=int, default=100)
    replaying = sub.add_parser("replay")
    replaying.add_argument("id")
    if "REDIS_URL" not in os.environ:
        print("dead letters: setting REDIS_URL is missing", file=sys.stderr)
        return 2
    return asyncio.run(_cli(parser.parse_args(argv)))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
