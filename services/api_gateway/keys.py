"""Every Redis key the gateway reads or writes, defined once (prefix `api_gateway:`).

The gateway's Redis user may touch only keys with this prefix (README "Redis users").
"""

from __future__ import annotations

PREFIX = "api_gateway:"


def deny(user_id: str) -> str:
    """Present while a deactivated user's remaining access tokens must be refused."""
    return f"{PREFIX}deny:{user_id}"


def plan(tenant_id: str) -> str:
    """The tenant's plan after a billing change, until its tokens carry the new one."""
    return f"{PREFIX}plan:{tenant_id}"


def tenant_bucket(tenant_id: str) -> str:
    return f"{PREFIX}bucket:tenant:{tenant_id}"


def ip_bucket(scope: str, address: str) -> str:
    """Per client address, for the public routes (`scope` is `auth` or `webhook`)."""
    return f"{PREFIX}bucket:{scope}:{address}"


def route_bucket(tenant_id: str, method: str, path: str) -> str:
    return f"{PREFIX}bucket:route:{tenant_id}:{method}:{path}"
