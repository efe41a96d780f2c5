"""Roles, permissions and plans (DESIGN §5, §6): the one definition every service enforces.

Pure data and functions, no framework imports. Each role has its own grants plus every grant of
the roles below it. Some permissions are never granted to a role, only to service accounts.
"""

from __future__ import annotations

ROLES: tuple[str, ...] = ("viewer", "analyst", "manager", "admin", "owner")
PLANS: tuple[str, ...] = ("basic", "pro", "enterprise")
DEFAULT_PLAN = "basic"

# Granted only to service accounts: e.g. minting an invitation link, which holds a secret.
SERVICE_ONLY_PERMISSIONS: frozenset[str] = frozenset({"users:invite", "integrations:credentials"})

_GRANTS: dict[str, frozenset[str]] = {
    "viewer": frozenset(
        {
            "campaigns:read",
            "analytics:read",
            "integrations:read",
            "notifications:read",
            "ai:read",
            "users:read",
            "tenant:read",
        }
    ),
    "analyst": frozenset({"analytics:write", "ai:run"}),
    "manager": frozenset({"campaigns:write", "notifications:send", "integrations:sync"}),
    "admin": frozenset({"users:manage", "integrations:manage", "notifications:manage", "tenant:manage"}),
    "owner": frozenset({"billing:manage"}),
}


def _cumulative() -> dict[str, frozenset[str]]:
    result: dict[str, frozenset[str]] = {}
    granted: frozenset[str] = frozenset()
    for role in ROLES:
        granted = granted | _GRANTS[role]
        result[role] = granted
    return result


ROLE_PERMISSIONS: dict[str, frozenset[str]] = _cumulative()
ALL_PERMISSIONS: frozenset[str] = ROLE_PERMISSIONS["owner"]


def permissions_of(role: str) -> frozenset[str]:
    return ROLE_PERMISSIONS.get(role, frozenset())


def role_rank(role: str) -> int:
    """Position in the ladder; unknown roles rank below viewer."""
    return ROLES.index(role) if role in ROLES else -1


def is_valid_permission(name: str) -> bool:
    return name in ALL_PERMISSIONS or name in SERVICE_ONLY_PERMISSIONS
