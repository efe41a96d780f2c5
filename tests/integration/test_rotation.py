"""Master-key rotation with the command operators run: every data key is re-wrapped under the new
key, credentials stay readable by replicas holding the new key list, and after the old key is
dropped nothing depends on it."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import asyncpg
import httpx

from services.integration.domain.secrets_box import MasterKeys
from shared.fleet import REPO_ROOT
from tests.integration.conftest import Fleet
from tests.support.kit import Account, service_headers
from tests.support.stack import Stack, running_services


def _mautic_password(base_url: str, headers: dict[str, str]) -> str | None:
    answer = httpx.get(f"{base_url}/api/v1/integrations/mautic/credentials", headers=headers, timeout=10)
    return answer.json()["password"] if answer.status_code == 200 else None


async def _key_ids(owner_url: str) -> set[str]:
    conn = await asyncpg.connect(owner_url)
    try:
        return {r["key_id"] for r in await conn.fetch("select distinct key_id from integrations.tenant_keys")}
    finally:
        await conn.close()


def test_rotation_rewraps_every_data_key_without_touching_credentials(
    integration_fleet: Fleet, owner: Account, stack: Stack, user_service: str
) -> None:
    """(The session's replicas keep only the old key afterwards: tenants made later get keys they
    can open, which is all the tests after this one need.)"""
    created = httpx.post(
        f"{integration_fleet.url}/api/v1/integrations/connections",
        json={
            "provider": "mautic",
            "name": "Mautic",
            "account_id": "mautic-rotation",
            "credentials": {"username": "api", "password": "before-and-after"},
            "options": {"base_url": "https://mautic.example.com"},
        },
        headers=owner.auth,
    )
    assert created.status_code == 201, created.text
    old = integration_fleet.env["INTEGRATION_MASTER_KEYS"]
    new = MasterKeys.generate("k2").to_config()
    rotated_keys = f"{new},{old}"
    command = subprocess.run(
        [sys.executable, "-m", "services.integration.rotate_keys"],
        cwd=REPO_ROOT,
        env={**integration_fleet.env, "INTEGRATION_MASTER_KEYS": rotated_keys},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert command.returncode == 0, command.stderr
    assert "under master key k2" in command.stdout
    assert "before-and-after" not in command.stdout + command.stderr
    assert asyncio.run(_key_ids(stack.owner_url)) == {"k2"}

    headers = service_headers(user_service, stack, "campaign_management", owner.tenant_id)
    with running_services(
        stack, "integration", log_name="integration-k2", INTEGRATION_MASTER_KEYS=new
    ) as urls:
        assert _mautic_password(urls["integration"], headers) == "before-and-after"
    again = subprocess.run(
        [sys.executable, "-m", "services.integration.rotate_keys"],
        cwd=REPO_ROOT,
        env={**integration_fleet.env, "INTEGRATION_MASTER_KEYS": new},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "data keys of 0 tenant(s)" in again.stdout
