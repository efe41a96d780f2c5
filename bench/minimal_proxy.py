"""The minimal Python proxy the gateway is measured against (issue 8): Starlette, one shared
aiohttp ClientSession, the path and the Authorization header passed on, the body read and
returned. No auth, no limits, no breaker, no streaming. UPSTREAM names the upstream's base URL."""

from __future__ import annotations

import os

import aiohttp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

UPSTREAM = os.environ["UPSTREAM"]
state: dict[str, aiohttp.ClientSession] = {}


async def proxy(request: Request) -> Response:
    if "client" not in state:
        state["client"] = aiohttp.ClientSession()
    headers = {"authorization": request.headers.get("authorization", "")}
    async with state["client"].get(UPSTREAM + request.url.path, headers=headers) as upstream:
        body = await upstream.read()
        return Response(body, upstream.status, media_type=upstream.headers.get("content-type"))


app = Starlette(routes=[Route("/{path:path}", proxy)])
