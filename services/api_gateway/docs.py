"""One OpenAPI document for the whole platform, merged from every service's `/openapi.json`.

Refreshed in the background: every `RETRY_SECONDS` while some service's document is missing (so a
service that comes back appears within seconds), else every `REFRESH_SECONDS`. Schema names that two services define differently are prefixed with the service name.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import aiohttp

from services.api_gateway import routing
from shared.outage import sleep_unless_stopped

logger = logging.getLogger("api_gateway.docs")
REFRESH_SECONDS = 30
RETRY_SECONDS = 2


def _rename_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                renames.get(value, value)
                if key == "$ref" and isinstance(value, str)
                else _rename_refs(value, renames)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rename_refs(item, renames) for item in node]
    return node


def merge(base: dict[str, Any], documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Pure merge of service documents into `base` (the gateway's own document)."""
    merged = json.loads(json.dumps(base))
    paths = merged.setdefault("paths", {})
    components = merged.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    security = components.setdefault("securitySchemes", {})
    for service, document in sorted(documents.items()):
        prefix = service.title().replace("_", "")
        renames: dict[str, str] = {}
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                renames[f"#/components/schemas/{name}"] = f"#/components/schemas/{prefix}{name}"
        document = _rename_refs(document, renames)
        for name, schema in document.get("components", {}).get("schemas", {}).items():
            target = f"{prefix}{name}" if f"#/components/schemas/{name}" in renames else name
            schemas[target] = schema
        security.update(document.get("components", {}).get("securitySchemes", {}))
        for path, item in document.get("paths", {}).items():
            if routing.match(path) is not None and routing.match(path).upstream == service:  # type: ignore[union-attr]
                paths[path] = item
    merged.setdefault("info", {})["description"] = (
        "All BizOSaaS services behind the gateway. Sign in with POST /api/v1/auth/login or the Authorize button."
    )
    return merged


class MergedDocs:
    def __init__(self, http: aiohttp.ClientSession, upstreams: dict[str, str]) -> None:
        self.http = http
        self.upstreams = upstreams
        self.documents: dict[str, dict[str, Any]] = {}

    async def fetch(self, base_url: str) -> dict[str, Any] | None:
        try:
            async with self.http.get(
                f"{base_url}/openapi.json", timeout=aiohttp.ClientTimeout(total=3)
            ) as resp:
                return await resp.json() if resp.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None

    async def refresh(self) -> None:
        names = list(self.upstreams)
        found = await asyncio.gather(*(self.fetch(self.upstreams[name]) for name in names))
        self.documents = {name: doc for name, doc in zip(names, found, strict=True) if doc is not None}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.refresh()
            complete = set(self.documents) == set(self.upstreams)
            await sleep_unless_stopped(stop, REFRESH_SECONDS if complete else RETRY_SECONDS)
