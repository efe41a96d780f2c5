"""Content memory: generated content and audit summaries with an embedding in pgvector; the
tenant's nearest items for a query; near-duplicate warnings when content is generated.

Embeddings come from the configured OpenAI-compatible `/embeddings` endpoint (asked for 256
dimensions), or else from the local hashing embedder: lexical (shared words and word pairs), not
semantic, and said so in every search answer."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from services.ai_agents.domain import embedding
from services.ai_agents.service.common import AgentUnitOfWork, AgentWork
from shared import errors


class Embedder:
    def __init__(self, base_url: str | None, model: str | None, api_key: str | None) -> None:
        self.remote = base_url is not None and model is not None
        self.base_url = (base_url or "").rstrip("/")
        self.model = model
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    @property
    def kind(self) -> str:
        return f"embeddings:{self.model}" if self.remote else "local-hashing (lexical, not semantic)"

    async def embed(self, text: str) -> list[float]:
        if not self.remote:
            return embedding.embed(text)
        try:
            async with httpx.AsyncClient(timeout=30) as client:
                response = await client.post(
                    f"{self.base_url}/embeddings",
                    json={"model": self.model, "input": text, "dimensions": embedding.DIMENSIONS},
                    headers=self._headers,
                )
        except httpx.HTTPError as error:
            raise errors.Unavailable(
                f"the embeddings endpoint is unavailable ({type(error).__name__})"
            ) from None
        if response.status_code != 200:
            raise errors.Unavailable(f"the embeddings endpoint answered {response.status_code}")
        vector = [float(v) for v in response.json()["data"][0]["embedding"]]
        if len(vector) != embedding.DIMENSIONS:
            raise errors.Unavailable(
                f"the embeddings endpoint gave {len(vector)} dimensions, not {embedding.DIMENSIONS}"
            )
        return vector


class Memory:
    def __init__(self, uow: AgentUnitOfWork, embedder: Embedder) -> None:
        self.uow = uow
        self.embedder = embedder

    async def remember(
        self, work: AgentWork, kind: str, title: str, body: str, task_id: uuid.UUID | None
    ) -> tuple[uuid.UUID, dict[str, Any] | None]:
        """Store the item; answers its id and the nearest earlier item of the tenant (if any)."""
        vector = await self.embedder.embed(f"{title}\n{body}")
        nearest = await work.repo.nearest_content(vector, 1)
        assert work.tenant_id is not None
        content_id = await work.repo.add_content(work.tenant_id, kind, title, body, vector, task_id)
        return content_id, (nearest[0] if nearest else None)

    async def search(self, tenant_id: uuid.UUID, query: str, limit: int) -> list[dict[str, Any]]:
        vector = await self.embedder.embed(query)
        async with self.uow(tenant_id) as work:
            return await work.repo.nearest_content(vector, limit)
