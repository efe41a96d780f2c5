"""Analytics at scale (issue 10): `.venv/bin/python -m bench.analytics`.

1. Ingestion: rows/s through `POST /api/v1/analytics/metrics` in 1,000-row batches (4 clients at
   once, every row new, rollups maintained), beside asyncpg's COPY of the same rows straight
   into the raw table (no validation, no rollups: the floor of storing them), in the same run.
2. KPIs over a year of one tenant: 1,000 campaigns x 4 channels, daily for the year and hourly
   for its last BENCH_HOURLY_DAYS days (90: about 10 million raw rows), loaded by COPY and rolled
   up once; `GET /api/v1/analytics/kpis` for the year (whole tenant, one channel, one campaign)
   with wrk, beside the same sums computed from the raw rows (no rollups) in SQL.
Targets: at least 50,000 rows/s through HTTP and 0.3 x COPY; KPI p50 under 50 ms.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import jwt

from bench._http import ratio, wrk
from bench._stack import bench_fleet, percentile, write_results
from bench.request_path import register
from services.analytics.domain.kpis import COUNTERS
from services.analytics.metrics_sql import REBUILD_SQL

CAMPAIGNS = int(os.environ.get("BENCH_CAMPAIGNS", "1000"))
HOURLY_DAYS = int(os.environ.get("BENCH_HOURLY_DAYS", "90"))
INGEST_BATCHES = int(os.environ.get("BENCH_INGEST_BATCHES", "120"))
CHANNELS = ("google_ads", "meta_ads", "linkedin_ads", "email")
YEAR_END = date(2026, 10, 31)
YEAR_START = YEAR_END - timedelta(days=364)
RAW_COLUMNS = [
    "tenant_id",
    "campaign_id",
    "channel",
    "source",
    "day",
    "hour_key",
    "currency",
    *COUNTERS,
    "batch_id",
]


def ingest_batches(count: int, size: int = 1000) -> list[list[dict[str, Any]]]:
    """Daily rows of distinct (campaign, channel, day): every row is new to the store."""
    rng = random.Random(7)
    campaigns = [str(uuid.uuid4()) for _ in range(size // 4)]
    batches = []
    for n in range(count):
        day = (date(2025, 1, 1) + timedelta(days=n)).isoformat()
        batches.append(
            [
                {
                    "campaign_id": c,
                    "channel": ch,
                    "date": day,
                    "currency": "EUR",
                    "impressions": rng.randint(0, 50_000),
                    "clicks": rng.randint(0, 900),
                    "spend_minor": rng.randint(0, 90_000),
                    "conversions": rng.randint(0, 30),
                }
                for c in campaigns
                for ch in CHANNELS
            ]
        )
    return batches


async def http_ingest(url: str, token: str, batches: list[list[dict[str, Any]]], clients: int = 4) -> float:
    queue: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    for batch in batches:
        queue.put_nowait(batch)

    async def client() -> None:
        async with httpx.AsyncClient(timeout=120, headers={"Authorization": f"Bearer {token}"}) as http:
            while not queue.empty():
                answer = await http.post(f"{url}/api/v1/analytics/metrics", json={"rows": queue.get_nowait()})
                assert answer.status_code == 200, answer.text

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started


def raw_records(tenant: uuid.UUID, batches: list[list[dict[str, Any]]]) -> list[tuple[Any, ...]]:
    batch_id = uuid.uuid4()
    return [
        (
            tenant,
            uuid.UUID(r["campaign_id"]),
            r["channel"],
            "api",
            date.fromisoformat(r["date"]),
            -1,
            "EUR",
            r["impressions"],
            r["clicks"],
            r["spend_minor"],
            r["conversions"],
            0,
            0,
            0,
            0,
            batch_id,
        )
        for batch in batches
        for r in batch
    ]


async def copy_rows(owner_url: str, records: list[tuple[Any, ...]]) -> float:
    conn = await asyncpg.connect(owner_url)
    try:
        months = sorted({r[4].replace(day=1) for r in records})
        for month in months:
            await conn.execute("select analytics.ensure_month($1)", month)
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "metric_rows", schema_name="analytics", records=records, columns=RAW_COLUMNS
        )
        return time.perf_counter() - started
    finally:
        await conn.close()


async def load_year(owner_url: str, tenant: uuid.UUID) -> tuple[int, float, list[uuid.UUID]]:
    """A year of daily rows, hourly ones for the last HOURLY_DAYS days instead of daily; rollups
    built once from them (the same statement a change of time zone uses)."""
    rng = random.Random(11)
    campaigns = [uuid.uuid4() for _ in range(CAMPAIGNS)]
    hourly_from = YEAR_END - timedelta(days=HOURLY_DAYS - 1)
    batch_id = uuid.uuid4()
    conn = await asyncpg.connect(owner_url)
    started = time.perf_counter()
    rows = 0
    try:
        await conn.execute("select set_config('app.tenant_id', $1, false)", str(tenant))
        day = YEAR_START
        while day <= YEAR_END:
            await conn.execute("select analytics.ensure_month($1)", day.replace(day=1))
            records = []
            for campaign in campaigns:
                for channel in CHANNELS:
                    if day < hourly_from:
                        records.append(_raw(tenant, campaign, channel, day, -1, rng, batch_id, 1))
                        continue
                    base = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) // 3600
                    records += [
                        _raw(tenant, campaign, channel, day, base + h, rng, batch_id, 24) for h in range(24)
                    ]
            await conn.copy_records_to_table(
                "metric_rows", schema_name="analytics", records=records, columns=RAW_COLUMNS
            )
            rows += len(records)
            day += timedelta(days=1)
        await conn.execute("analyze analytics.metric_rows")
        await conn.execute(REBUILD_SQL, tenant)
        await conn.execute("analyze analytics.rollups")
        await conn.execute("analyze analytics.rollup_hours")
    finally:
        await conn.close()
    return rows, time.perf_counter() - started, campaigns


def _raw(
    tenant: uuid.UUID,
    campaign: uuid.UUID,
    channel: str,
    day: date,
    hour: int,
    rng: random.Random,
    batch_id: uuid.UUID,
    parts: int,
) -> tuple[Any, ...]:
    return (
        tenant,
        campaign,
        channel,
        "api",
        day,
        hour,
        "EUR",
        rng.randint(0, 40_000) // parts,
        rng.randint(0, 800) // parts,
        rng.randint(0, 80_000) // parts,
        rng.randint(0, 20) // parts,
        0,
        0,
        0,
        0,
        batch_id,
    )


RAW_KPI_SQL = """
select sum(impressions), sum(clicks), sum(spend_minor), sum(conversions), sum(conversion_value_minor)
from analytics.metric_rows where tenant_id = $1 and day between $2 and $3 {extra}
"""


async def raw_kpis(
    owner_url: str, tenant: uuid.UUID, extra: str, args: list[Any], runs: int = 7
) -> dict[str, float]:
    """The same sums straight from the raw rows (no rollups): the cost they save."""
    conn = await asyncpg.connect(owner_url)
    timings = []
    try:
        for _ in range(runs):
            started = time.perf_counter()
            await conn.fetchrow(RAW_KPI_SQL.format(extra=extra), tenant, YEAR_START, YEAR_END, *args)
            timings.append((time.perf_counter() - started) * 1000)
    finally:
        await conn.close()
    return {"p50_ms": round(percentile(timings, 0.5), 1), "p99_ms": round(max(timings), 1), "runs": runs}


def main() -> dict[str, Any]:
    results: dict[str, Any] = {}
    with bench_fleet(("user_management", "analytics")) as fleet:
        url = fleet.urls["analytics"]
        owner_url = fleet.stack.owner_url
        token = register(fleet.urls["user_management"])
        batches = ingest_batches(INGEST_BATCHES)
        rows = sum(len(b) for b in batches)
        http_seconds = asyncio.run(http_ingest(url, token, batches))
        copy_seconds = asyncio.run(copy_rows(owner_url, raw_records(uuid.uuid4(), batches)))
        results["ingest"] = {
            "rows": rows,
            "http_rows_per_s": round(rows / http_seconds),
            "copy_rows_per_s": round(rows / copy_seconds),
            "ratio_to_copy": ratio(rows / http_seconds, rows / copy_seconds),
        }

        reader = register(fleet.urls["user_management"])
        tenant = uuid.UUID(jwt.decode(reader, options={"verify_signature": False})["tid"])
        loaded, load_seconds, campaigns = asyncio.run(load_year(owner_url, tenant))
        results["kpi_data"] = {"raw_rows": loaded, "load_and_rollup_seconds": round(load_seconds)}
        year = f"from={YEAR_START}&to={YEAR_END}"
        queries = {
            "whole tenant, a year": (f"{url}/api/v1/analytics/kpis?{year}", "", []),
            "one channel, a year": (
                f"{url}/api/v1/analytics/kpis?{year}&channel=meta_ads",
                "and channel = $4",
                ["meta_ads"],
            ),
            "one campaign, a year": (
                f"{url}/api/v1/analytics/kpis?{year}&campaign_id={campaigns[0]}",
                "and campaign_id = $4",
                [campaigns[0]],
            ),
        }
        for label, (kpi_url, extra, args) in queries.items():
            check = httpx.get(kpi_url, headers={"Authorization": f"Bearer {reader}"}, timeout=60)
            assert check.status_code == 200 and check.json()["current"]["impressions"] > 0, check.text
            wrk(kpi_url, reader, connections=1, duration="2s")
            results[f"kpis: {label}"] = {
                "with rollups (HTTP, 1 conn)": wrk(kpi_url, reader, connections=1),
                "without rollups (SQL over raw rows)": asyncio.run(raw_kpis(owner_url, tenant, extra, args)),
            }
    return results


if __name__ == "__main__":
    write_results("analytics", main())
