"""A Mautic REST client that copes with Mautic as it really behaves.

- Auth: HTTP Basic, or OAuth2 client credentials (`/oauth/v2/token`), the token cached until
  shortly before it expires and fetched again once if Mautic refuses it;
- lists come keyed by id (`{"stages": {"12": {...}}}`) with `total` as a string: read as lists;
- `PUT .../{id}/edit` creates the item when it no longer exists (PATCH would 404): the sync uses
  PUT with the id it stored, so an item deleted in Mautic comes back under a new id;
- batch endpoints take at most 200 items: larger batches go in chunks;
- its hourly limit answers 429 with Retry-After: waited out with backoff (shared.http);
- `Mautic-Version` on every answer is kept, for the funnel's sync record.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from shared import errors
from shared.http import BreakerRegistry, ResilientClient

BATCH_LIMIT = 200
TOKEN_MARGIN_SECONDS = 60


@dataclass(frozen=True)
class MauticCredentials:
    base_url: str
    username: str | None = None
    password: str | None = None
    client_id: str | None = None
    client_secret: str | None = None

    def __repr__(self) -> str:
        return f"MauticCredentials(base_url={self.base_url!r}, username={self.username!r}, client_id={self.client_id!r})"


class MauticError(errors.DomainError):
    """Mautic refused or failed a call; the message is Mautic's own (it holds no secret)."""

    code = "mautic-error"


RESOURCES = {
    # our name: (path, item key, list key)
    "stages": ("stages", "stage", "stages"),
    "segments": ("segments", "list", "lists"),
    "campaigns": ("campaigns", "campaign", "campaigns"),
    "points": ("points", "point", "points"),
    "triggers": ("points/triggers", "trigger", "triggers"),
}


class MauticClient:
    def __init__(
        self,
        credentials: MauticCredentials,
        breakers: BreakerRegistry,
        *,
        timeout: float = 10.0,
        retries: int = 4,
    ) -> None:
        self.credentials = credentials
        self.http = ResilientClient(credentials.base_url, timeout=timeout, retries=retries, breakers=breakers)
        self.version: str | None = None
        self._token: str | None = None
        self._token_expires = 0.0

    async def aclose(self) -> None:
        await self.http.aclose()

    # --- auth ----------------------------------------------------------------------------------

    async def _auth(self) -> dict[str, str] | httpx.BasicAuth:
        creds = self.credentials
        if creds.client_id and creds.client_secret:
            if self._token is None or time.monotonic() > self._token_expires - TOKEN_MARGIN_SECONDS:
                await self._fetch_token()
            return {"Authorization": f"Bearer {self._token}"}
        if creds.username and creds.password:
            return httpx.BasicAuth(creds.username, creds.password)
        raise MauticError("no Mautic credentials configured")

    async def _fetch_token(self) -> None:
        response = await self.http.post(
            "/oauth/v2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": self.credentials.client_id,
                "client_secret": self.credentials.client_secret,
            },
        )
        if response.status_code != 200:
            raise MauticError(f"Mautic refused the client credentials ({response.status_code})")
        body = response.json()
        self._token = body["access_token"]
        self._token_expires = time.monotonic() + float(body.get("expires_in", 3600))

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for attempt in range(2):
            auth = await self._auth()
            if isinstance(auth, httpx.BasicAuth):
                response = await self.http.request(method, path, auth=auth, **kwargs)
            else:
                response = await self.http.request(method, path, headers=auth, **kwargs)
            self.version = response.headers.get("Mautic-Version", self.version)
            if response.status_code == 401 and self._token is not None and attempt == 0:
                self._token = None  # expired early or revoked: one fresh token
                continue
            return response
        raise AssertionError("unreachable")

    # --- resources -----------------------------------------------------------------------------

    async def list_all(
        self, resource: str, *, search: str | None = None, limit: int = 200
    ) -> list[dict[str, Any]]:
        """Every item (paged), as a list: Mautic answers an object keyed by id."""
        path, _, list_key = RESOURCES[resource]
        items: list[dict[str, Any]] = []
        start = 0
        while True:
            params: dict[str, Any] = {"start": start, "limit": limit}
            if search:
                params["search"] = search
            body = _json(await self._call("GET", f"/api/{path}", params=params))
            page = body.get(list_key) or {}
            batch = list(page.values()) if isinstance(page, Mapping) else list(page)
            items.extend(batch)
            total = int(body.get("total") or 0)
            start += len(batch)
            if not batch or start >= total:
                return items

    async def upsert(self, resource: str, payload: dict[str, Any], known_id: int | None) -> int:
        """Write the item where we left it (PUT creates it again if it was deleted); a new
        one when we never synced it. Returns its id."""
        path, item_key, _ = RESOURCES[resource]
        if known_id is None:
            response = await self._call("POST", f"/api/{path}/new", json=payload)
        else:
            response = await self._call("PUT", f"/api/{path}/{known_id}/edit", json=payload)
        return int(_json(response)[item_key]["id"])

    async def create_many(self, resource: str, payloads: list[dict[str, Any]], created: list[int]) -> None:
        """Batch creation in chunks of Mautic's batch limit (200). The ids land in `created` as
        each chunk is answered, so a failure later on still tells the caller what exists."""
        path, _, list_key = RESOURCES[resource]
        for start in range(0, len(payloads), BATCH_LIMIT):
            chunk = payloads[start : start + BATCH_LIMIT]
            body = _json(await self._call("POST", f"/api/{path}/batch/new", json=chunk))
            made = body.get(list_key) or []  # a batch answers 200/201 with per-item errors beside the rest
            made = list(made.values()) if isinstance(made, Mapping) else made
            created.extend(int(item["id"]) for item in made)
            if body.get("errors"):
                failed = body["errors"]
                details = failed.values() if isinstance(failed, Mapping) else failed
                messages = "; ".join(
                    str(e.get("message", e)) if isinstance(e, Mapping) else str(e) for e in details
                )
                raise MauticError(f"Mautic refused part of a batch: {messages}")

    async def stats(
        self, table: str, where: list[tuple[str, str, Any]], limit: int = 500
    ) -> list[dict[str, Any]]:
        """Rows of a stats table (`lead_stages_change_log`, `email_stats`), all pages."""
        rows: list[dict[str, Any]] = []
        start = 0
        while True:
            params: dict[str, Any] = {"start": start, "limit": limit}
            for i, (column, expr, value) in enumerate(where):
                params[f"where[{i}][col]"] = column
                params[f"where[{i}][expr]"] = expr
                params[f"where[{i}][val]"] = value
            body = _json(await self._call("GET", f"/api/stats/{table}", params=params))
            batch = body.get("stats") or []
            rows.extend(batch)
            start += len(batch)
            if not batch or start >= int(body.get("total") or 0):
                return rows


def _json(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        try:
            messages = [e.get("message", "") for e in response.json().get("errors", [])]
        except ValueError:
            messages = []
        raise MauticError(
            f"Mautic answered {response.status_code}: {'; '.join(messages) or response.reason_phrase}"
        )
    body = response.json()
    if not isinstance(body, dict):
        raise MauticError("Mautic answered something that is not a JSON object")
    return body
