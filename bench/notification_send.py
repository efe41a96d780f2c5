"""Email notifications at rate (issue 12): `.venv/bin/python -m bench.notification_send`.

N messages (BENCH_NOTIFICATIONS, 2,000) sent with `POST /api/v1/notifications` by 16 concurrent
clients, each to its own address, through notification's queue and delivery worker to the local
SMTP catcher (a separate process): first as fast as they are answered (notifications/s from the
first POST until the catcher holds all of them), then offered steadily at 200/s (each message's
latency from its POST to its acceptance by the catcher). Beside
it, in the same run, aiosmtplib submitting the same number of messages straight to the same
catcher with the same concurrency (the floor: what SMTP submission itself costs here).
Targets: at least 200 notifications/s, delivery p99 under 2 s.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from datetime import datetime
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import httpx

from bench._http import ratio
from bench._stack import bench_fleet, percentile, write_results
from bench.request_path import register
from devstack.embedded import free_port
from shared.fleet import REPO_ROOT

COUNT = int(os.environ.get("BENCH_NOTIFICATIONS", "2000"))
CLIENTS = 16
PACE = 200.0  # the target rate, offered steadily, for the latency figures


def start_catcher() -> tuple[subprocess.Popen[bytes], int, str]:
    smtp, http = free_port(), free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "fakes.smtp", "--smtp-port", str(smtp), "--http-port", str(http)],
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{http}"
    for _ in range(100):
        try:
            if httpx.get(f"{url}/_fake/state", timeout=1).status_code == 200:
                return process, smtp, url
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the SMTP catcher did not start")


def caught(url: str) -> list[dict[str, Any]]:
    listed = httpx.get(f"{url}/messages", timeout=60).json()
    return listed["messages"] if isinstance(listed, dict) else listed


def wait_for(url: str, count: int, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while len(caught(url)) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"fewer than {count} messages after {timeout}s")
        time.sleep(0.2)
    return time.perf_counter()


async def direct(port: int, count: int) -> float:
    """aiosmtplib, one connection per message like our sender, CLIENTS at a time."""
    slots = asyncio.Semaphore(CLIENTS)

    async def one(n: int) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = (
            "bench@bizosaas.local",
            f"direct-{n}@acme.io",
            "Direct",
        )
        message.set_content("plain text")
        message.add_alternative("<p>html</p>", subtype="html")
        async with slots:
            await aiosmtplib.send(message, hostname="127.0.0.1", port=port)

    started = time.perf_counter()
    await asyncio.gather(*(one(n) for n in range(count)))
    return time.perf_counter() - started


async def through_service(
    url: str, token: str, count: int, prefix: str, rate: float | None = None
) -> tuple[float, dict[str, float]]:
    """POSTs from CLIENTS clients, as fast as answered or paced at `rate` per second; returns when
    the first was sent, and each POST's time by address."""
    posted: dict[str, float] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)
    began = time.perf_counter()

    async def client(http: httpx.AsyncClient) -> None:
        while not queue.empty():
            n = queue.get_nowait()
            if rate is not None:  # the n-th message leaves at n / rate seconds
                await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
            address = f"{prefix}-{n}@acme.io"
            posted[address] = time.time()
            answer = await http.post(
                "/api/v1/notifications",
                json={
                    "category": "campaign",
                    "to": [address],
                    "subject": f"Bench {n}",
                    "body": "A bench message.",
                },
            )
            assert answer.status_code == 202, answer.text

    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(CLIENTS)))
    posted["__answered__"] = time.perf_counter() - started
    return started, posted


def main() -> dict[str, Any]:
    catcher, smtp_port, catcher_url = start_catcher()
    try:
        floor_seconds = asyncio.run(direct(smtp_port, COUNT))
        httpx.delete(f"{catcher_url}/messages")
        overrides = {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_SECURITY": "none",
            "DELIVERY_POLL_SECONDS": "0.05",
        }
        with bench_fleet(("user_management", "notification"), **overrides) as fleet:
            token = register(fleet.urls["user_management"])
            wait_for(catcher_url, 1)  # the welcome email: the service is up and sending
            httpx.delete(f"{catcher_url}/messages")
            started, posted = asyncio.run(through_service(fleet.urls["notification"], token, COUNT, "burst"))
            answered = posted.pop("__answered__")
            finished = wait_for(catcher_url, COUNT)
            httpx.delete(f"{catcher_url}/messages")
            _, paced = asyncio.run(through_service(fleet.urls["notification"], token, COUNT, "paced", PACE))
            paced.pop("__answered__")
            wait_for(catcher_url, COUNT)
        latencies = [
            datetime.fromisoformat(m["received_at"]).timestamp() - paced[m["envelope_to"][0]]
            for m in caught(catcher_url)
            if m["envelope_to"] and m["envelope_to"][0] in paced
        ]
    finally:
        catcher.terminate()
        catcher.wait(10)
    ours = COUNT / (finished - started)
    floor = COUNT / floor_seconds
    return {
        "messages": COUNT,
        "clients": CLIENTS,
        "aiosmtplib straight to the catcher (floor)": {"per_s": round(floor)},
        "POST /notifications answered (202)": {"per_s": round(COUNT / answered)},
        "POST /notifications -> accepted by the catcher, as fast as it goes": {"per_s": round(ours)},
        f"offered at {PACE:.0f}/s: POST -> accepted by the catcher": {
            "latency_p50_ms": round(percentile(latencies, 0.5) * 1000),
            "latency_p99_ms": round(percentile(latencies, 0.99) * 1000),
        },
        "ratio to the floor": ratio(ours, floor),
    }


if __name__ == "__main__":
    write_results("notification_send", main())
