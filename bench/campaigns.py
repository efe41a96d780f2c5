"""Campaign pages at scale (issue 9): `.venv/bin/python -m bench.campaigns`.

A tenant with 100,000 campaigns (and a second tenant with 50,000, so row level security has
something to hide). Measured with wrk in one run: the first and the 100th page of 50 with a
status filter, and with a channel filter; beside them the floor of the request path
(bench/floor.py `/users/me`) and the floor of this very page (the same keyset query written by
hand in bench/floor.py, no validation, no cursor encoding). Target: p50 under 10 ms for any page.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import jwt

from bench._http import CONNECTIONS, DURATION, ratio, uvicorn_app, wrk
from bench._stack import bench_fleet, write_results
from bench.request_path import register

TENANT_CAMPAIGNS = 100_000
OTHER_CAMPAIGNS = 50_000
STATUSES = ("draft", "scheduled", "active", "paused", "completed", "archived")
CHANNELS = ("google_ads", "meta_ads", "linkedin_ads", "email")
COLUMNS = [
    "id",
    "tenant_id",
    "name",
    "objective",
    "status",
    "budget_type",
    "total_budget_minor",
    "currency",
    "channels",
    "channel_names",
    "start_at",
    "end_at",
    "targeting",
    "utm",
    "tags",
    "owner_user_id",
    "version",
    "created_at",
    "updated_at",
]


def _start_for(status: str, created: datetime, rng: random.Random) -> datetime:
    """Dates that fit the status, so the scheduler finds nothing due while we measure."""
    now = datetime.now(UTC)
    if status in ("scheduled", "draft"):
        return now + timedelta(days=rng.randint(1, 60))
    if status in ("active", "paused"):
        return now - timedelta(days=rng.randint(1, 20))  # ends 30 days after its start: ahead
    return created + timedelta(days=rng.randint(1, 30))  # completed, archived: long over


def campaign_rows(tenant_id: uuid.UUID, count: int, seed: int) -> list[tuple[Any, ...]]:
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = []
    for n in range(count):
        channels = rng.sample(CHANNELS, rng.randint(1, 3))
        budgets = [{"channel": c, "budget_minor": rng.randint(1, 500) * 1000} for c in channels]
        created = start + timedelta(minutes=n * 7 + rng.randint(0, 6))
        status = rng.choice(STATUSES)
        begins = _start_for(status, created, rng)
        rows.append(
            (
                uuid.uuid4(),
                tenant_id,
                f"Campaign {n:06d}",
                rng.choice(("awareness", "traffic", "leads", "sales")),
                status,
                "lifetime",
                sum(b["budget_minor"] for b in budgets),
                "EUR",
                json.dumps(budgets),
                channels,
                begins,
                begins + timedelta(days=30),
                json.dumps({"locations": ["DE"], "languages": ["de"]}),
                json.dumps({"source": "bench"}),
                [rng.choice(("spring", "summer", "b2b", "brand"))],
                None,
                1,
                created,
                created,
            )
        )
    return rows


async def load(owner_url: str, tenant_id: uuid.UUID) -> None:
    conn = await asyncpg.connect(owner_url)
    try:
        for tenant, count, seed in ((tenant_id, TENANT_CAMPAIGNS, 1), (uuid.uuid4(), OTHER_CAMPAIGNS, 2)):
            await conn.execute("select set_config('app.tenant_id', $1, false)", str(tenant))
            await conn.copy_records_to_table(
                "campaigns",
                schema_name="campaigns",
                records=campaign_rows(tenant, count, seed),
                columns=COLUMNS,
            )
        await conn.execute("analyze campaigns.campaigns")
    finally:
        await conn.close()


def cursor_of_page(url: str, token: str, page: int, params: dict[str, str]) -> str:
    """The cursor that opens page `page` (following next_cursor from the first)."""
    cursor = ""
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for _ in range(page - 1):
            body = client.get(url, params={**params, **({"cursor": cursor} if cursor else {})}).json()
            cursor = body["next_cursor"]
    return cursor


def floor_after(url: str, token: str, page: int, status: str) -> str:
    after = ""
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for _ in range(page - 1):
            after = client.get(url, params={"status": status, **({"after": after} if after else {})}).json()[
                "next"
            ]
    return after


def measure(url: str, token: str) -> dict[str, Any]:
    """wrk figures of one URL, after checking it answers (a full page, for a page): no figures for errors."""
    answer = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code == 200 and len(answer.json().get("items", [0] * 50)) == 50, (
        url,
        answer.text[:300],
    )
    wrk(url, token, duration="2s")
    return {"c1": wrk(url, token, connections=1), f"c{CONNECTIONS}": wrk(url, token)}


def main() -> dict[str, Any]:
    results: dict[str, Any] = {
        "campaigns": TENANT_CAMPAIGNS,
        "other_tenant": OTHER_CAMPAIGNS,
        "duration": DURATION,
    }
    with bench_fleet(("user_management", "campaign_management")) as fleet:
        token = register(fleet.urls["user_management"])
        tenant_id = uuid.UUID(jwt.decode(token, options={"verify_signature": False})["tid"])
        asyncio.run(load(fleet.stack.owner_url, tenant_id))
        service = f"{fleet.urls['campaign_management']}/api/v1/campaigns"
        pages = {
            "status=active, page 1": f"{service}?status=active&limit=50",
            "channel=meta_ads, page 1": f"{service}?channel=meta_ads&limit=50",
        }
        for label, params in (
            ("status=active", {"status": "active"}),
            ("channel=meta_ads", {"channel": "meta_ads"}),
        ):
            cursor = cursor_of_page(service, token, 100, {**params, "limit": "50"})
            key, value = next(iter(params.items()))
            pages[f"{label}, page 100"] = f"{service}?{key}={value}&limit=50&cursor={cursor}"
        env = {
            "FLOOR_DATABASE_URL": fleet.envs["user_management"]["USER_MANAGEMENT_DATABASE_URL"],
            "FLOOR_CAMPAIGNS_DATABASE_URL": fleet.envs["campaign_management"][
                "CAMPAIGN_MANAGEMENT_DATABASE_URL"
            ],
            "FLOOR_KEY_FILE": fleet.envs["user_management"]["JWT_PRIVATE_KEY_FILE"],
        }
        with uvicorn_app("bench.floor:app", env) as floor:
            results["floor /users/me"] = measure(f"{floor}/api/v1/users/me", token)
            floor_page = f"{floor}/api/v1/campaigns?status=active&limit=50"
            results["floor page (same query by hand), page 1"] = measure(floor_page, token)
            after = floor_after(f"{floor}/api/v1/campaigns", token, 100, "active")
            results["floor page (same query by hand), page 100"] = measure(
                f"{floor_page}&after={after}", token
            )
        for label, url in pages.items():
            results[f"campaign_management {label}"] = measure(url, token)
    base = results["floor /users/me"]
    for name, figures in results.items():
        if isinstance(figures, dict) and "c1" in figures and name != "floor /users/me":
            figures["rps_ratio_to_floor_users_me"] = ratio(figures["c1"]["rps"], base["c1"]["rps"])
    return results


if __name__ == "__main__":
    write_results("campaigns", main())
