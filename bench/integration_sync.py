"""Flow 2 at scale (issue 11): `.venv/bin/python -m bench.integration_sync`.

One year of daily rows for 500 campaigns (BENCH_SYNC_CAMPAIGNS) generated in the Google Ads fake,
synced by integration (searchStream pages of SYNC_PAGE_DAYS, each stored with its checkpoint),
announced with `integration.sync_completed` (a paged `rows_url`), fetched and stored by analytics
(every row normalised, upserted and rolled up). Measured end to end: from `POST .../sync` until
analytics holds every row, beside the fake's own serving rate in the same run (the same year read
with one searchStream call by a bare httpx client: the floor of getting these rows at all).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import jwt
import redis

from bench._http import ratio
from bench._stack import bench_fleet, write_results
from bench.request_path import register
from fakes import google_ads
from fakes._server import ThreadedFake
from shared.events.catalog import stream_of
from shared.events.envelope import Event

CAMPAIGNS = int(os.environ.get("BENCH_SYNC_CAMPAIGNS", "500"))
DAYS = 365
ACCOUNT = "1234567890"
TOKEN = "fake-google-access-token"
FIELDS = (
    "campaign.id, segments.date, metrics.impressions, metrics.clicks, metrics.cost_micros,"
    " metrics.conversions, metrics.conversions_value, customer.currency_code"
)


def fake_floor(url: str, first: str, last: str) -> tuple[int, float]:
    """The fake serving the year in one searchStream call, read by a bare client."""
    query = f"SELECT {FIELDS} FROM campaign WHERE segments.date BETWEEN '{first}' AND '{last}'"
    started = time.perf_counter()
    answer = httpx.post(
        f"{url}/v18/customers/{ACCOUNT}/googleAds:searchStream",
        json={"query": query},
        headers={"Authorization": f"Bearer {TOKEN}", "developer-token": "fake-developer-token"},
        timeout=300,
    )
    seconds = time.perf_counter() - started
    assert answer.status_code == 200, answer.text[:300]
    return sum(len(batch.get("results", [])) for batch in answer.json()), seconds


def map_campaigns(redis_url: str, tenant: uuid.UUID, external_ids: list[str]) -> None:
    """What launches would have told analytics: which platform campaign is which of ours."""
    client = redis.Redis.from_url(redis_url)
    for external_id in external_ids:
        data = {
            "campaign_id": str(uuid.uuid4()),
            "channel": "google_ads",
            "external_id": external_id,
            "status": "running",
        }
        event = Event(type="execution.updated", tenant_id=tenant, producer="integration", data=data)
        client.xadd(stream_of("integration"), {"event": event.to_json()})
    client.close()


async def count(owner_url: str, sql: str, tenant: uuid.UUID) -> int:
    conn = await asyncpg.connect(owner_url)
    try:
        return int(await conn.fetchval(sql, tenant))
    finally:
        await conn.close()


def wait_for_count(owner_url: str, sql: str, tenant: uuid.UUID, wanted: int, timeout: float = 900) -> float:
    deadline = time.monotonic() + timeout
    while (found := asyncio.run(count(owner_url, sql, tenant))) < wanted:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{found} of {wanted} after {timeout}s: {sql}")
        time.sleep(0.2)
    return time.perf_counter()


def main() -> dict[str, Any]:
    fake = ThreadedFake(google_ads.make_app())
    url = fake.start()
    last = (datetime.now(UTC) - timedelta(days=2)).date()
    first = last - timedelta(days=DAYS - 1)
    seeded = httpx.post(
        f"{url}/_fake/seed",
        json={
            "generate": {
                "campaigns": CAMPAIGNS,
                "days": DAYS,
                "accounts": [ACCOUNT],
                "seed": 11,
                "end_date": last.isoformat(),
            }
        },
        timeout=300,
    ).json()
    state = httpx.get(f"{url}/_fake/state", params={"include_metrics": "false"}, timeout=60).json()
    rows, external_ids = state["metric_rows"], [c["id"] for c in state["campaigns"]]
    providers = {
        "GOOGLE_ADS_URL": url,
        "GOOGLE_OAUTH_URL": url,
        "GOOGLE_ADS_DEVELOPER_TOKEN": "fake-developer-token",
    }
    try:
        with bench_fleet(
            ("user_management", "integration", "analytics"), SYNC_POLL_SECONDS="0.2", **providers
        ) as fleet:
            served, floor_seconds = fake_floor(url, first.isoformat(), last.isoformat())
            assert served == rows, (served, rows)
            token = register(fleet.urls["user_management"])
            tenant = uuid.UUID(jwt.decode(token, options={"verify_signature": False})["tid"])
            owner_url = fleet.stack.owner_url
            map_campaigns(fleet.stack.redis_url, tenant, external_ids)
            wait_for_count(
                owner_url,
                "select count(*) from analytics.campaign_map where tenant_id = $1",
                tenant,
                len(external_ids),
            )
            auth = {"Authorization": f"Bearer {token}"}
            base = fleet.urls["integration"]
            connection = httpx.post(
                f"{base}/api/v1/integrations/connections",
                json={
                    "provider": "google_ads",
                    "name": "Bench",
                    "account_id": ACCOUNT,
                    "credentials": {"access_token": TOKEN},
                },
                headers=auth,
                timeout=30,
            ).json()
            started = time.perf_counter()
            sync = httpx.post(
                f"{base}/api/v1/integrations/connections/{connection['id']}/sync",
                json={"from": first.isoformat(), "to": last.isoformat()},
                headers=auth,
                timeout=30,
            ).json()
            stored = wait_for_count(
                owner_url, "select count(*) from analytics.metric_rows where tenant_id = $1", tenant, rows
            )
            done = httpx.get(
                f"{base}/api/v1/integrations/syncs/{sync['id']}", headers=auth, timeout=30
            ).json()
            synced_at = datetime.fromisoformat(done["finished_at"]) - datetime.fromisoformat(
                done["started_at"]
            )
    finally:
        fake.stop()
    end_to_end = stored - started
    return {
        "seeded": seeded.get("generated"),
        "rows": rows,
        "pages": done["pages"],
        "fake serving (one searchStream, bare client)": {
            "seconds": round(floor_seconds, 2),
            "rows_per_s": round(rows / floor_seconds),
        },
        "integration: pulled and stored (sync started -> finished)": {
            "seconds": round(synced_at.total_seconds(), 2),
            "rows_per_s": round(rows / synced_at.total_seconds()),
        },
        "end to end (POST sync -> every row stored in analytics)": {
            "seconds": round(end_to_end, 2),
            "rows_per_s": round(rows / end_to_end),
        },
        "end to end / fake serving": ratio(rows / end_to_end, rows / floor_seconds),
    }


if __name__ == "__main__":
    write_results("integration_sync", main())
