"""The fleet as developers start it: `python -m devstack up` (what ./start-dev.sh runs).

Starts all seven services as real processes against the test PostgreSQL and Redis, checks every
`/ready`, `/metrics` and `/docs`, that a second start is refused clearly, and that SIGTERM leaves
no process behind.
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from devstack.embedded import free_port, port_open
from devstack.providers import PROVIDER_FAKES
from shared.fleet import BY_NAME, REPO_ROOT, SERVICES, spec
from tests.support.kit import eventually, register_owner
from tests.support.stack import Stack

pytestmark = pytest.mark.fleet


def _free_offset() -> int:
    """Ports below the kernel's ephemeral range (32768 and up), where outgoing connections could
    already hold one; every service's and every fake's port (the mail catcher's HTTP one too) free."""
    for _ in range(50):
        offset = random.randrange(12000, 24000, 10)
        ports = (
            [spec.port for spec in SERVICES]
            + [f.port for f in PROVIDER_FAKES]
            + [f.port + 1 for f in PROVIDER_FAKES]
        )
        if not any(port_open(port + offset) for port in ports):
            return offset
    raise RuntimeError("no free port range for the fleet")


def _read_until(proc: subprocess.Popen[bytes], marker: str, timeout: float) -> str:
    """Read the child's output straight from the pipe (no Python buffering) until `marker`."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    seen = b""
    deadline = time.monotonic() + timeout
    while marker.encode() not in seen:
        if time.monotonic() > deadline or proc.poll() is not None:
            raise AssertionError(f"no {marker!r} from devstack; output so far:\n{seen.decode()}")
        if selector.select(timeout=0.5):
            seen += os.read(fd, 65536)
    return seen.decode()


def _devstack(devdata: Path, offset: int, redis_port: int) -> subprocess.Popen[bytes]:
    """`python -m devstack up` with its own embedded PostgreSQL and Redis, as on a fresh laptop."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        BIZOSAAS_DEVDATA=str(devdata),
        DEV_PORT_OFFSET=str(offset),
        DEV_POSTGRES_PORT=str(free_port()),
        DEV_REDIS_PORT=str(redis_port),
    )
    return subprocess.Popen(
        [sys.executable, "-m", "devstack", "up"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _processes_using(folder: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if str(folder) in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_devstack_starts_all_seven_and_stops_everything(tmp_path: Path) -> None:
    devdata = tmp_path / "devdata"
    offset, redis_port = _free_offset(), free_port()
    first = _devstack(devdata, offset, redis_port)
    try:
        banner = _read_until(first, "Press Ctrl-C", timeout=120)
        children = psutil.Process(first.pid).children(recursive=True)
        assert len(children) >= 7
        env_file = _sourced(devdata / "stack.env")
        operator = {"Authorization": f"Bearer {env_file['GATEWAY_OPERATOR_TOKEN']}"}
        with httpx.Client(timeout=5, headers=operator) as http:
            for spec in SERVICES:
                base = f"http://127.0.0.1:{spec.port + offset}"
                assert base in banner
                ready = http.get(f"{base}/ready")
                assert ready.status_code == 200, (spec.name, ready.text)
                assert ready.json()["service"] == spec.name
                metrics = http.get(f"{base}/metrics")
                assert "http_requests_total" in metrics.text and 'route="/ready"' in metrics.text
                docs = http.get(f"{base}/docs")
                assert docs.status_code == 200 and "swagger-ui" in docs.text
                assert http.get(f"{base}/openapi.json").json()["info"]["title"].startswith("BizOSaaS")
        assert env_file["REDIS_URL"].startswith("redis://:") and env_file["DATABASE_URL"].startswith(
            "postgresql://"
        )
        assert _processes_using(devdata / "postgres") and port_open(redis_port)
        assert (devdata / "keys" / "jwt-signing.pem").exists()
        _assert_least_privilege(first.pid)
        _assert_a_funnel_syncs_to_the_fake_mautic(offset)
        _assert_a_google_ads_account_syncs_offline(offset)
        _assert_a_killed_service_comes_back_alone(first, offset)

        second = _devstack(devdata, offset, redis_port)
        out, _ = second.communicate(timeout=60)
        assert second.returncode == 1
        assert b"already running" in out

        first.send_signal(signal.SIGTERM)
        out, _ = first.communicate(timeout=60)
        assert first.returncode == 0, out
        assert b"Stopped." in out
        _gone, alive = psutil.wait_procs(children, timeout=5)
        assert alive == []
        assert not any(port_open(spec.port + offset) for spec in SERVICES)
        assert not any(port_open(fake.port + offset) for fake in PROVIDER_FAKES)
        assert _processes_using(devdata) == [] and not port_open(redis_port)  # embedded servers stopped too
    finally:
        if first.poll() is None:  # the test failed midway: leave no process behind either
            leftovers = psutil.Process(first.pid).children(recursive=True)
            first.send_signal(signal.SIGTERM)
            try:
                first.wait(30)
            except subprocess.TimeoutExpired:
                first.kill()
            for proc in leftovers:
                if proc.is_running():
                    proc.kill()


def _sourced(path: Path) -> dict[str, str]:
    """The file as a shell sees it after `source` (it must be safe to source)."""
    script = f"set -a; source {path}; env -0"
    out = subprocess.run(["bash", "-c", script], env={}, capture_output=True, check=True).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def _service_processes(devstack_pid: int) -> dict[str, psutil.Process]:
    found = {}
    for child in psutil.Process(devstack_pid).children(recursive=True):
        cmdline = " ".join(child.cmdline())
        for service in SERVICES:
            if service.app_path in cmdline:
                found[service.name] = child
    assert set(found) == {spec.name for spec in SERVICES}, found
    return found


def _assert_least_privilege(devstack_pid: int) -> None:
    """DESIGN §9: each process holds its own secrets only; the owner URL and the signing key go
    nowhere but the migrate step and user_management."""
    for name, proc in _service_processes(devstack_pid).items():
        env = proc.environ()
        own = spec(name)
        assert "DATABASE_URL" not in env, name
        db_urls = {key for key in env if key.endswith("_DATABASE_URL")}
        assert db_urls == ({own.database_url_env} if own.schema else set()), (name, db_urls)
        accounts = {
            k
            for k in env
            if k.endswith("_CLIENT_SECRET") and k.removesuffix("_CLIENT_SECRET").lower() in BY_NAME
        }
        assert accounts <= {own.client_secret_env}, (name, accounts)
        assert ("JWT_PRIVATE_KEY_FILE" in env) == (name == "user_management"), name
        assert ("SERVICE_ACCOUNTS" in env) == (name == "user_management"), name
        assert ("MAUTIC_PASSWORD" in env) == (name == "campaign_management"), name  # a provider's secret
        for provider_secret in (
            "INTEGRATION_MASTER_KEYS",
            "STRIPE_API_KEY",
            "STRIPE_WEBHOOK_SECRET",
            "GOOGLE_CLIENT_SECRET",
        ):
            assert (provider_secret in env) == (name == "integration"), (name, provider_secret)
        assert env["REDIS_URL"].startswith(f"redis://svc_{name}:"), name
        assert env["EVENTS_PUBLISHER_REDIS_URL"].startswith(f"redis://svc_{name}_publisher:"), name
        peers = {key for key in env if key.endswith("_URL") and key.removesuffix("_URL").lower() in BY_NAME}
        assert peers == {spec(peer).url_env for peer in own.peers}, (name, peers)


def _assert_a_google_ads_account_syncs_offline(offset: int) -> None:
    """A newcomer connects a "Google Ads" account through the gateway and syncs it from the fake."""
    gateway = f"http://127.0.0.1:{spec('api_gateway').port + offset}"
    google = f"http://127.0.0.1:{8092 + offset}"
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()
    seeded = httpx.post(
        f"{google}/_fake/seed",
        json={
            "metrics": [
                {"account_id": "1234567890", "campaign_id": "42", "date": yesterday, "impressions": 9}
            ]
        },
    )
    assert seeded.status_code == 200, seeded.text
    with httpx.Client(base_url=gateway, timeout=30) as http:
        owner = register_owner(gateway)
        connection = http.post(
            "/api/v1/integrations/connections",
            json={
                "provider": "google_ads",
                "name": "Newcomer's Ads",
                "account_id": "1234567890",
                "credentials": {"access_token": "fake-google-access-token"},
            },
            headers=owner.auth,
        )
        assert connection.status_code == 201, connection.text
        sync = http.post(
            f"/api/v1/integrations/connections/{connection.json()['id']}/sync", headers=owner.auth
        )
        assert sync.status_code == 202, sync.text

        def finished() -> dict[str, Any] | None:
            found = http.get(sync.json()["status_url"], headers=owner.auth).json()
            return found if found["status"] in ("succeeded", "failed") else None

        done = eventually(finished, timeout=30)
        assert (done["status"], done["rows"]) == ("succeeded", 1), done


def _assert_a_funnel_syncs_to_the_fake_mautic(offset: int) -> None:
    """Offline out of the box: the dev stack runs the provider fakes and points the services at
    them; a newcomer's funnel sync through the gateway lands in the fake Mautic."""
    gateway = f"http://127.0.0.1:{spec('api_gateway').port + offset}"
    mautic = f"http://127.0.0.1:{8091 + offset}"
    with httpx.Client(base_url=gateway, timeout=30) as http:
        owner = register_owner(gateway)
        funnel = http.post(
            "/api/v1/funnels",
            json={
                "name": "Newcomer",
                "stages": [{"name": "Lead", "weight": 1, "entry_rule": {"type": "form_submitted"}}],
            },
            headers=owner.auth,
        )
        assert funnel.status_code == 201, funnel.text
        synced = http.post(f"/api/v1/funnels/{funnel.json()['id']}/sync", headers=owner.auth)
        assert synced.status_code == 200, synced.text
        assert synced.json()["mautic"]["base_url"] == mautic
    stages = httpx.get(f"{mautic}/_fake/state", timeout=5).json()["resources"]["stages"]
    assert [s["name"] for s in stages] == ["Newcomer: Lead"]


def _assert_a_killed_service_comes_back_alone(devstack: subprocess.Popen[bytes], offset: int) -> None:
    """SIGKILL one service: the launcher restarts it and it is ready again; nobody else restarted."""
    before = {name: proc.pid for name, proc in _service_processes(devstack.pid).items()}
    os.kill(before["analytics"], signal.SIGKILL)
    _read_until(devstack, "analytics restarted", timeout=30)
    base = f"http://127.0.0.1:{spec('analytics').port + offset}"

    def ready() -> bool:
        try:
            return httpx.get(f"{base}/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    eventually(ready, timeout=60)
    after = {name: proc.pid for name, proc in _service_processes(devstack.pid).items()}
    assert after["analytics"] != before["analytics"]
    assert {k: v for k, v in after.items() if k != "analytics"} == {
        k: v for k, v in before.items() if k != "analytics"
    }


def test_a_service_missing_a_setting_exits_with_one_line(stack: Stack) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_URL", "_DATABASE_URL"))}
    env["REDIS_URL"] = stack.redis_url
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "services.campaign_management.main:app", "--port", "0"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert lines == [
        "campaign_management: setting JWKS_URL is missing; setting CAMPAIGN_MANAGEMENT_DATABASE_URL is missing"
    ]


def test_docker_mode_says_plainly_when_docker_cannot_run(tmp_path: Path) -> None:
    """`./start-dev.sh --docker` runs docker-compose.dev.yml (tests/deploy checks what it runs);
    without a Docker client, or with one whose engine is not reachable (as here), it says which
    and exits 2 before installing anything."""
    engine_down = tmp_path / "docker"
    engine_down.write_text('#!/bin/sh\n[ "$1" = compose ] && exit 0\necho "Cannot connect" >&2\nexit 1\n')
    engine_down.chmod(0o755)
    for client, says in (
        (tmp_path / "no-such-docker", "client is not installed"),
        (engine_down, "the Docker engine is not reachable"),
    ):
        result = subprocess.run(
            ["bash", "start-dev.sh", "--docker"],
            cwd=REPO_ROOT,
            env={**os.environ, "DOCKER": str(client)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stdout + result.stderr
        assert says in result.stdout
        assert "Installing requirements" not in result.stdout
