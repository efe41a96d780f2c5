"""Load generation and helper servers for the HTTP benchmarks: wrk, nginx, small uvicorn apps."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from devstack.embedded import free_port
from shared.fleet import REPO_ROOT

DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))


def wrk(
    url: str, token: str | None = None, connections: int = CONNECTIONS, duration: str = DURATION
) -> dict[str, float]:
    """requests/s, p50 and p99 (ms) and non-2xx count of one wrk run (one thread)."""
    args = ["wrk", "-t1", f"-c{connections}", f"-d{duration}", "--latency"]
    if token:
        args += ["-H", f"Authorization: Bearer {token}"]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def percentile(label: str) -> float:
        value, unit = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "rps": round(rps),
        "p50_ms": round(percentile("50"), 3),
        "p99_ms": round(percentile("99"), 3),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise TimeoutError(url)


@contextmanager
def uvicorn_app(app_path: str, env: dict[str, str] | None = None, cwd: Path = REPO_ROOT) -> Iterator[str]:
    """An ASGI app in its own uvicorn process (one worker, as each service runs); yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app_path,
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@contextmanager
def nginx_proxy(folder: Path, upstream_port: int) -> Iterator[str | None]:
    """nginx as a plain keep-alive reverse proxy in front of `upstream_port` (None if not installed)."""
    if shutil.which("nginx") is None:
        yield None
        return
    port = free_port()
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    (folder / "nginx.conf").write_text(
        textwrap.dedent(
            f"""
            worker_processes 1;
            error_log {folder}/logs/error.log warn;
            pid {folder}/nginx.pid;
            events {{ worker_connections 1024; }}
            http {{
              access_log off;
              upstream app {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
              server {{
                listen 127.0.0.1:{port};
                location / {{
                  proxy_pass http://app;
                  proxy_http_version 1.1;
                  proxy_set_header Connection "";
                  proxy_set_header X-Forwarded-For $remote_addr;
                }}
              }}
            }}
            """
        )
    )
    proc = subprocess.Popen(
        ["nginx", "-p", str(folder), "-c", str(folder / "nginx.conf"), "-g", "daemon off;"]
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def ratio(value: float, base: float) -> float:
    return round(value / base, 2) if base else 0.0
