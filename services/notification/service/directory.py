"""Who the recipients are: user_management answers with a service token (scope users:read), and
mints invitation links on request (users:invite), so no link ever travels in an event."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

from shared import errors
from shared.http import CircuitOpen
from shared.peers import Peers


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    email: str
    full_name: str
    role: str
    status: str


def _unavailable(error: BaseException | None = None) -> errors.Unavailable:
    why = f" ({type(error).__name__})" if error else ""
    return errors.Unavailable(f"user_management is unavailable{why}")


class Directory:
    def __init__(self, peers: Peers) -> None:
        self.peers = peers

    async def person(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> Person | None:
        """None for a user this tenant does not have."""
        try:
            response = await self.peers("user_management").get(
                f"/api/v1/users/{user_id}", tenant_id=tenant_id
            )
        except (httpx.HTTPError, CircuitOpen) as error:
            raise _unavailable(error) from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _unavailable()
        return _person(response.json())

    async def admins(self, tenant_id: uuid.UUID) -> list[Person]:
        """The tenant's owners and admins: who hears about the tenant's integrations and billing."""
        found: list[Person] = []
        for role in ("owner", "admin"):
            try:
                response = await self.peers("user_management").get(
                    "/api/v1/users", tenant_id=tenant_id, params={"role": role, "limit": 100}
                )
            except (httpx.HTTPError, CircuitOpen) as error:
                raise _unavailable(error) from None
            if response.status_code != 200:
                raise _unavailable()
            found += [_person(item) for item in response.json()["items"] if item["status"] == "active"]
        return found

    async def invitation_link(self, tenant_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
        """A fresh one-time link (earlier ones void); None when the invitation is no longer open."""
        try:
            response = await self.peers("user_management").post(
                f"/api/v1/users/{user_id}/invitation-link", tenant_id=tenant_id
            )
        except (httpx.HTTPError, CircuitOpen) as error:
            raise _unavailable(error) from None
        if response.status_code in (404, 409, 410):
            return None
        if response.status_code not in (200, 201):
            raise _unavailable()
        body = response.json()
        return str(body.get("url") or body.get("invitation_url") or body.get("link"))


def _person(body: dict[str, object]) -> Person:
    return Person(
        id=uuid.UUID(str(body["id"])),
        email=str(body["email"]),
        full_name=str(body["full_name"]),
        role=str(body["role"]),
        status=str(body["status"]),
    )
