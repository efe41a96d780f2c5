"""A consumer process for the reliability tests: `python -m tests.support.consumer_worker NAME`.

Reads EVTEST_DATABASE_URL and REDIS_URL; handles `campaign.created` by writing an effects row,
sleeping `--delay` seconds per event so a test can kill it mid-batch. Prints READY when its group
exists, then runs until SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from shared.database import Database
from shared.events.consumer import EventConsumer
from shared.redis import create_redis
from tests.support.evtest import EVENT_TYPE, EVTEST, recording_handler


async def main(name: str, delay: float, batch: int, visibility_ms: int) -> None:
    database = await Database(os.environ["EVTEST_DATABASE_URL"], pool_size=4).open()
    redis = create_redis(os.environ["REDIS_URL"])
    consumer = EventConsumer(
        redis,
        database,
        service=EVTEST.name,
        schema="evtest",
        handlers={EVENT_TYPE: recording_handler(name, delay)},
        consumer_name=name,
        batch_size=batch,
        visibility_timeout_ms=visibility_ms,
    )
    await consumer.ensure_groups()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("READY", flush=True)
    try:
        await consumer.run(stop)
    finally:
        await redis.aclose()
        await database.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("name")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--visibility-ms", type=int, default=1000)
    args = parser.parse_args()
    asyncio.run(main(args.name, args.delay, args.batch, args.visibility_ms))
