"""Gateway benchmark (issue 4): run `.venv/bin/python -m bench.gateway` (needs `wrk`; nginx optional).

One authenticated endpoint (GET /api/v1/users/me on user_management: token check + a database
read) is loaded with wrk directly, through our gateway (token check and rate limit on, limit set
too high to interfere), and through nginx as a plain reverse proxy when nginx is installed. Also,
as the evidence for our choice of upstream client, two minimal proxies (the same 15 lines, one with
httpx.AsyncClient, one with an aiohttp ClientSession) in front of the same endpoint.
Throughput is measured with BENCH_CONNECTIONS (16) connections, which saturates both cores; the
latency a request gains is measured again with one connection, where nothing queues.
Targets: gateway >= 50% of direct requests/s, at most 2 ms added at p50.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx

from bench._stack import write_results
from devstack.embedded import free_port, throwaway_servers
from devstack.fleet import Fleet
from devstack.stackenv import ensure_signing_key, service_environment
from shared.fleet import SERVICES, WITH_DATABASE, spec
from shared.migrations import migrate

DURATION = os.environ.get("BENCH_DURATION", "10s")
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))

MINIMAL_PROXY = textwrap.dedent(
    """
    import os, aiohttp, httpx
    from starlette.applications import Starlette
    from starlette.responses import Response
    from starlette.routing import Route
    UPSTREAM = os.environ["UPSTREAM"]
    CLIENT = os.environ["CLIENT"]
    state = {}
    async def proxy(request):
        if "c" not in state:
            state["c"] = (aiohttp.ClientSession() if CLIENT == "aiohttp"
                          else httpx.AsyncClient(limits=httpx.Limits(max_connections=100)))
        headers = {"authorization": request.headers.get("authorization", "")}
        url = UPSTREAM + request.url.path
        if CLIENT == "aiohttp":
            async with state["c"].get(url, headers=headers) as r:
                return Response(await r.read(), r.status, media_type=r.headers.get("content-type"))
        r = await state["c"].get(url, headers=headers)
        return Response(r.content, r.status_code, media_type=r.headers.get("content-type"))
    app = Starlette(routes=[Route("/{p:path}", proxy)])
    """
)


def wrk(url: str, token: str, connections: int = CONNECTIONS) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{DURATION}",
            "--latency",
            "-H",
            f"Authorization: Bearer {token}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def percentile(label: str) -> float:
        value, unit = re.search(rf"\s{label}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {
        "rps": round(rps),
        "p50_ms": round(percentile("50"), 2),
        "p99_ms": round(percentile("99"), 2),
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


def start_nginx(folder: Path, upstream_port: int) -> tuple[subprocess.Popen[bytes], int] | None:
    if shutil.which("nginx") is None:
        return None
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
    wait_http(f"http://127.0.0.1:{port}/health")
    return proc, port


def start_minimal_proxy(folder: Path, client: str, upstream: str) -> tuple[subprocess.Popen[bytes], int]:
    (folder / "minimal_proxy.py").write_text(MINIMAL_PROXY)
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "minimal_proxy:app",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        cwd=folder,
        env={**os.environ, "UPSTREAM": upstream, "CLIENT": client},
    )
    wait_http(f"http://127.0.0.1:{port}/health")
    return proc, port


def main() -> dict[str, Any]:
    results: dict[str, Any] = {"connections": CONNECTIONS, "duration": DURATION}
    with throwaway_servers("bizosaas-bench-gw-", durable=True) as servers:
        passwords = {s.name: secrets.token_urlsafe(12) for s in WITH_DATABASE}
        passwords.update({f"{s.name}_client": secrets.token_urlsafe(24) for s in SERVICES})
        asyncio.run(migrate(servers.database_url, passwords))
        ports = {s.name: free_port() for s in SERVICES}
        env = service_environment(
            servers.database_url,
            servers.redis_url,
            passwords,
            ports,
            signing_key=ensure_signing_key(servers.workdir / "key.pem"),
        )
        env.update(
            LOG_LEVEL="WARNING",
            PLAN_RATE_LIMITS=json.dumps(dict.fromkeys(("basic", "pro", "enterprise"), "1000000000/3600")),
        )
        fleet = Fleet(
            env=env,
            ports=ports,
            log_dir=servers.workdir / "logs",
            services=(spec("user_management"), spec("api_gateway")),
        )
        fleet.start()
        extras: list[subprocess.Popen[bytes]] = []
        try:
            fleet.wait_ready(60)
            direct = f"http://127.0.0.1:{ports['user_management']}"
            gateway = f"http://127.0.0.1:{ports['api_gateway']}"
            token = httpx.post(
                f"{direct}/api/v1/auth/register",
                json={
                    "tenant_name": "Bench",
                    "email": f"bench-{secrets.token_hex(4)}@acme.io",
                    "password": "a long bench password",
                    "full_name": "Bench",
                },
            ).json()["access_token"]
            path = "/api/v1/users/me"
            wrk(f"{gateway}{path}", token)  # warm-up: pools, JWKS, caches
            results["direct"] = wrk(f"{direct}{path}", token)
            results["gateway"] = wrk(f"{gateway}{path}", token)
            # Unsaturated (one connection): the latency a request gains by passing the gateway.
            results["direct_c1"] = wrk(f"{direct}{path}", token, connections=1)
            results["gateway_c1"] = wrk(f"{gateway}{path}", token, connections=1)
            results["gateway_c1"]["p50_added_ms"] = round(
                results["gateway_c1"]["p50_ms"] - results["direct_c1"]["p50_ms"], 2
            )
            folder = Path(tempfile.mkdtemp(prefix="bench-proxies-"))
            nginx = start_nginx(folder / "nginx", ports["user_management"])
            if nginx:
                extras.append(nginx[0])
                results["nginx"] = wrk(f"http://127.0.0.1:{nginx[1]}{path}", token)
            for client in ("httpx", "aiohttp"):
                proc, port = start_minimal_proxy(folder, client, direct)
                extras.append(proc)
                results[f"minimal_proxy_{client}"] = wrk(f"http://127.0.0.1:{port}{path}", token)
            base = results["direct"]
            for name in ("gateway", "nginx", "minimal_proxy_httpx", "minimal_proxy_aiohttp"):
                if name in results:
                    results[name]["rps_ratio_to_direct"] = round(results[name]["rps"] / base["rps"], 2)
                    results[name]["p50_added_ms"] = round(results[name]["p50_ms"] - base["p50_ms"], 2)
        finally:
            for proc in extras:
                proc.terminate()
                proc.wait(10)
            fleet.stop()
    return results


if __name__ == "__main__":
    write_results("gateway", main())
