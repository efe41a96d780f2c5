"""The fastest upstream we can put behind a proxy: a bare ASGI app answering a small JSON body.
Behind it, any proxy's own cost shows (issue 8: a slow endpoint would hide it)."""

from __future__ import annotations

from typing import Any

BODY = b'{"id":"c-1","name":"Spring sale","status":"active"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
