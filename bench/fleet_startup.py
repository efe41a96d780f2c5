"""Fleet benchmark (issue 2): run `.venv/bin/python -m bench.fleet_startup`.

Starts `./start-dev.sh` twice with its own `.devdata` (embedded PostgreSQL and Redis): the first
run initialises and migrates, the measured second run is a warm start (dependencies installed,
database migrated once before), as a developer's everyday start. Reports the seconds from launch
until every service's `/ready` answers 200, and each service's idle resident memory, beside a
baseline in the same run: a minimal FastAPI app under uvicorn (its start time and memory).
Targets: all seven ready in under 20 s; under 150 MB per service, under 400 MB for ai_agents.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil

from bench._stack import write_results
from devstack.embedded import free_port, port_open
from shared.fleet import REPO_ROOT, SERVICES

MINIMAL_APP = (
    "from fastapi import FastAPI\napp = FastAPI()\n@app.get('/ready')\ndef ready():\n    return {}\n"
)


def _wait_ready(urls: list[str], timeout: float) -> float:
    started = time.monotonic()
    pending = set(urls)
    with httpx.Client(timeout=1.0) as http:
        while pending:
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"not ready: {sorted(pending)}")
            for url in list(pending):
                try:
                    if http.get(url).status_code == 200:
                        pending.discard(url)
                except httpx.HTTPError:
                    pass
            time.sleep(0.05)
    return time.monotonic() - started


def _rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 1e6


def baseline() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "minimal_app.py").write_text(MINIMAL_APP)
        port = free_port()
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "minimal_app:app", "--port", str(port)],
            cwd=folder,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_ready([f"http://127.0.0.1:{port}/ready"], 60)
            seconds = time.monotonic() - started
            time.sleep(2)
            return {"ready_s": round(seconds, 2), "rss_mb": round(_rss_mb(proc.pid), 1)}
        finally:
            proc.terminate()
            proc.wait(10)


def start_dev(devdata: Path, offset: int) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        BIZOSAAS_DEVDATA=str(devdata),
        DEV_PORT_OFFSET=str(offset),
        DEV_POSTGRES_PORT=str(free_port()),
        DEV_REDIS_PORT=str(free_port()),
    )
    return subprocess.Popen(
        ["./start-dev.sh"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)


def fleet_run(devdata: Path, offset: int) -> dict[str, object]:
    urls = [f"http://127.0.0.1:{s.port + offset}/ready" for s in SERVICES]
    started = time.monotonic()
    proc = start_dev(devdata, offset)
    try:
        _wait_ready(urls, 120)
        ready_s = time.monotonic() - started
        time.sleep(3)
        memory = {}
        for child in psutil.Process(proc.pid).children(recursive=True):
            cmdline = " ".join(child.cmdline())
            for spec in SERVICES:
                if f"services.{spec.name}.main:app" in cmdline:
                    memory[spec.name] = round(_rss_mb(child.pid), 1)
        return {"ready_s": round(ready_s, 2), "rss_mb": memory}
    finally:
        stop(proc)


def main() -> dict[str, object]:
    offset = next(o for o in range(21000, 40000, 100) if not any(port_open(s.port + o) for s in SERVICES))
    base = baseline()
    with tempfile.TemporaryDirectory() as folder:
        devdata = Path(folder) / "devdata"
        cold = fleet_run(devdata, offset)
        warm = fleet_run(devdata, offset)
    memory = warm["rss_mb"]
    assert isinstance(memory, dict)
    return {
        "baseline_minimal_fastapi": base,
        "first_start_with_initdb_and_migrations_s": cold["ready_s"],
        "warm_start_all_ready_s": warm["ready_s"],
        "warm_start_to_baseline_ratio": round(float(warm["ready_s"]) / base["ready_s"], 1),
        "idle_rss_mb": memory,
        "max_rss_to_baseline_ratio": round(max(memory.values()) / base["rss_mb"], 2),
    }


if __name__ == "__main__":
    write_results("fleet_startup", main())
