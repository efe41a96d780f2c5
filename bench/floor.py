"""The floor of the shared request path (issue 8): the least code that does the same job as
`GET /api/v1/users/me`: FastAPI, a PyJWT RS256 check, one asyncpg transaction as the runtime role
(set the tenant, one SELECT under row level security), a JSON answer. No ORM, no dependencies
beyond the route's own, no middleware. Run by bench/request_path.py as
`uvicorn bench.floor:app` with FLOOR_DATABASE_URL and FLOOR_KEY_FILE set.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import jwt
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI, Header, HTTPException

state: dict[str, Any] = {
    "key": serialization.load_pem_private_key(
        Path(os.environ["FLOOR_KEY_FILE"]).read_bytes(), None
    ).public_key()
}


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    state["pool"] = await asyncpg.create_pool(os.environ["FLOOR_DATABASE_URL"], min_size=10, max_size=10)
    campaigns_url = os.environ.get("FLOOR_CAMPAIGNS_DATABASE_URL")
    if campaigns_url:
        state["campaigns"] = await asyncpg.create_pool(campaigns_url, min_size=10, max_size=10)
    yield
    for name in ("pool", "campaigns"):
        if name in state:
            await state[name].close()


app = FastAPI(lifespan=lifespan)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def _claims(authorization: str) -> dict[str, Any]:
    try:
        return jwt.decode(
            authorization.removeprefix("Bearer "),
            state["key"],
            algorithms=["RS256"],
            audience="bizosaas-api",
            issuer="bizosaas",
        )
    except jwt.PyJWTError:
        raise HTTPException(401) from None


@app.get("/api/v1/campaigns")
async def campaigns(
    status: str, limit: int = 50, after: str | None = None, authorization: str = Header("")
) -> dict[str, Any]:
    """The floor of a campaign page (bench/campaigns.py): the same keyset query by hand, rows as
    JSON, `after` a plain "<created_at in epoch microseconds>_<id>"."""
    claims = _claims(authorization)
    micros, _, row_id = (after or "_").partition("_")
    async with state["campaigns"].acquire() as conn, conn.transaction():
        await conn.execute("select set_config('app.tenant_id', $1, true)", claims["tid"])
        rows = await conn.fetch(
            "select * from campaigns.campaigns where status = any($1::text[])"
            + (" and (created_at, id) < (to_timestamp($3::bigint / 1e6), $4::uuid)" if after else "")
            + " order by created_at desc, id desc limit $2",
            *([status], limit, *((int(micros), row_id) if after else ())),
        )
    items = [{**dict(r), **{k: json.loads(r[k]) for k in ("channels", "targeting", "utm")}} for r in rows]
    last = rows[-1] if len(rows) == limit else None
    cursor = f"{int(last['created_at'].timestamp() * 1e6)}_{last['id']}" if last else None
    return {"items": items, "next": cursor}


@app.get("/api/v1/users/me")
async def me(authorization: str = Header("")) -> dict[str, Any]:
    claims = _claims(authorization)
    async with state["pool"].acquire() as conn, conn.transaction():
        await conn.execute("select set_config('app.tenant_id', $1, true)", claims["tid"])
        row = await conn.fetchrow(
            "select id, tenant_id, email, full_name, role, status, created_at, last_login_at "
            "from users.users where id = $1",
            claims["sub"],
        )
    if row is None:
        raise HTTPException(404)
    return {**dict(row), "id": str(row["id"]), "tenant_id": str(row["tenant_id"])}
