"""ai_agents at work (issue 13): `.venv/bin/python -m bench.ai_agents`.

1. SEO analysis of a 50-page fixture site (tests/ai_agents/sites.py, served on 127.0.0.1): the
   service's audit_site tool (robots.txt, sitemap, SSRF-checked fetches, same-site crawl with 8 at
   a time, every SEO rule on every page) in pages/s, beside a plain concurrent httpx fetch of the
   same pages (8 at a time, nothing checked or parsed) in the same run.
2. Content search over 100,000 stored vectors of one tenant (256 dimensions): the service's
   nearest-items query, p50 over 200 queries, with the HNSW index and without it (exact scan).
"""

from __future__ import annotations

import asyncio
import os
import random
import time
import uuid
from typing import Any

import asyncpg
import httpx

from bench._http import ratio
from bench._stack import bench_stack, percentile, write_results
from services.ai_agents.repository import vector_literal
from services.ai_agents.service.toolbox import ToolBox
from services.ai_agents.tools.fetch import FetchPolicy
from tests.ai_agents.sites import SiteServer, crawl_site

PAGES = 50
VECTORS = int(os.environ.get("BENCH_VECTORS", "100000"))
DIMENSIONS = 256
QUERIES = 200
NEAREST = (
    "select id from ai_agents.content_items where tenant_id = $1"
    " order by embedding <=> $2::text::vector limit 10"
)


def unit_vector(rng: random.Random) -> list[float]:
    values = [rng.gauss(0, 1) for _ in range(DIMENSIONS)]
    norm = sum(v * v for v in values) ** 0.5
    return [v / norm for v in values]


async def plain_fetch(urls: list[str]) -> float:
    slots = asyncio.Semaphore(8)
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(url: str) -> None:
            async with slots:
                (await client.get(url)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(url) for url in urls))
        return time.perf_counter() - started


async def seo_analysis(start: str) -> tuple[float, int, int]:
    box = ToolBox(uuid.uuid4(), FetchPolicy(allow=("127.0.0.0/8",)), None, max_pages=PAGES + 1)  # type: ignore[arg-type]
    started = time.perf_counter()
    audit = await box.audit_site(start)
    return time.perf_counter() - started, len(audit["pages"]), audit["score"]


async def load_vectors(owner_url: str, tenant: uuid.UUID) -> float:
    rng = random.Random(13)
    conn = await asyncpg.connect(owner_url)
    try:
        vectors = [vector_literal(unit_vector(rng)) for _ in range(VECTORS)]
        started = time.perf_counter()
        for first in range(0, VECTORS, 5000):
            chunk = vectors[first : first + 5000]
            await conn.execute(
                "insert into ai_agents.content_items (id, tenant_id, kind, title, body, embedding)"
                " select gen_random_uuid(), $1, 'content', 'item', 'body', v::vector from unnest($2::text[]) v",
                tenant,
                chunk,
            )
        return time.perf_counter() - started
    finally:
        await conn.close()


async def search_p50(owner_url: str, tenant: uuid.UUID, exact: bool) -> dict[str, float]:
    rng = random.Random(99)
    conn = await asyncpg.connect(owner_url)
    try:
        if exact:
            await conn.execute("set enable_indexscan = off")
        await conn.execute("set hnsw.ef_search = 40")
        timings = []
        for _ in range(QUERIES):
            query = vector_literal(unit_vector(rng))
            started = time.perf_counter()
            rows = await conn.fetch(NEAREST, tenant, query)
            timings.append((time.perf_counter() - started) * 1000)
            assert len(rows) == 10
        plan = await conn.fetchval(
            "explain " + NEAREST.replace("$1", f"'{tenant}'").replace("$2", f"'{query}'")
        )
        return {
            "p50_ms": round(percentile(timings, 0.5), 2),
            "p99_ms": round(percentile(timings, 0.99), 2),
            "plan": str(plan)[:60],
        }
    finally:
        await conn.close()


async def vectors() -> dict[str, Any]:
    async with bench_stack() as stack:
        tenant = uuid.uuid4()
        load_seconds = await load_vectors(stack.owner_url, tenant)
        conn = await asyncpg.connect(stack.owner_url)
        await conn.execute("analyze ai_agents.content_items")
        await conn.close()
        indexed = await search_p50(stack.owner_url, tenant, exact=False)
        exact = await search_p50(stack.owner_url, tenant, exact=True)
        return {
            "vectors": VECTORS,
            "load_seconds (5,000-row inserts, HNSW maintained)": round(load_seconds, 1),
            "nearest 10, HNSW": indexed,
            "nearest 10, exact scan": exact,
        }


def main() -> dict[str, Any]:
    results: dict[str, Any] = {}
    with SiteServer(crawl_site(pages=PAGES)) as site:
        urls = [f"{site.url}/"] + [f"{site.url}/p/{n}" for n in range(1, PAGES + 1)]
        asyncio.run(plain_fetch(urls))  # warm-up
        plain = asyncio.run(plain_fetch(urls))
        seconds, pages, score = asyncio.run(seo_analysis(f"{site.url}/"))
    results["seo analysis"] = {
        "pages": pages,
        "site score": score,
        "plain concurrent httpx fetch (floor), pages/s": round(len(urls) / plain),
        "audit_site (crawl + every rule), pages/s": round(pages / seconds),
        "ratio": ratio(pages / seconds, len(urls) / plain),
    }
    results["content search"] = asyncio.run(vectors())
    return results


if __name__ == "__main__":
    write_results("ai_agents", main())
