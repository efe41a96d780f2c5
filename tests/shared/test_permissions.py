"""The role ladder every service enforces: it must be cumulative and leak nothing to unknown roles."""

from __future__ import annotations

import itertools

import pytest

from shared.auth.permissions import (
    ALL_PERMISSIONS,
    ROLE_PERMISSIONS,
    ROLES,
    is_valid_permission,
    permissions_of,
    role_rank,
)

LADDER = ["viewer", "analyst", "manager", "admin", "owner"]


def test_roles_are_ordered_lowest_first() -> None:
    """The ladder's order is what makes `role_rank` and the cumulative grants meaningful."""
    assert list(ROLES) == LADDER


@pytest.mark.parametrize(("lower", "higher"), list(itertools.pairwise(LADDER)))
def test_each_role_strictly_extends_the_one_below(lower: str, higher: str) -> None:
    """A promotion never loses a permission and always gains one."""
    assert permissions_of(lower) < permissions_of(higher)


def test_viewer_only_reads() -> None:
    """The lowest role must not be able to change anything."""
    viewer = permissions_of("viewer")
    assert "campaigns:read" in viewer and "analytics:read" in viewer
    assert all(permission.endswith(":read") for permission in viewer)


@pytest.mark.parametrize(
    ("role", "granted", "denied"),
    [
        ("analyst", {"analytics:write", "ai:run", "campaigns:read"}, {"campaigns:write"}),
        ("manager", {"campaigns:write", "notifications:send", "ai:run"}, {"users:manage"}),
        ("admin", {"users:manage", "tenant:manage", "campaigns:write"}, {"billing:manage"}),
    ],
)
def test_role_boundaries(role: str, granted: set[str], denied: set[str]) -> None:
    """Each role gets its own grants plus those below, and nothing from above."""
    assert granted <= permissions_of(role)
    assert not denied & permissions_of(role)


def test_billing_manage_is_owner_only() -> None:
    """Billing is the one thing an admin cannot do."""
    holders = [role for role in ROLES if "billing:manage" in permissions_of(role)]
    assert holders == ["owner"]


def test_owner_holds_every_permission() -> None:
    assert permissions_of("owner") == ALL_PERMISSIONS
    assert ROLE_PERMISSIONS["owner"] == ALL_PERMISSIONS


@pytest.mark.parametrize("role", ["", "superuser", "Owner", "OWNER", " owner", "service"])
def test_unknown_role_has_nothing(role: str) -> None:
    """A typo or forged role in a token must grant no access, not fall back to some default."""
    assert permissions_of(role) == frozenset()


def test_role_rank_follows_the_ladder() -> None:
    ranks = [role_rank(role) for role in LADDER]
    assert ranks == sorted(ranks) and len(set(ranks)) == len(LADDER)
    assert role_rank("viewer") == 0
    assert role_rank("owner") > role_rank("admin") > role_rank("manager")


@pytest.mark.parametrize("role", ["", "root", "Admin"])
def test_unknown_role_ranks_below_viewer(role: str) -> None:
    assert role_rank(role) < role_rank("viewer")


@pytest.mark.parametrize("name", sorted(ALL_PERMISSIONS))
def test_every_granted_permission_is_valid(name: str) -> None:
    assert is_valid_permission(name)


@pytest.mark.parametrize(
    "name", ["", "campaigns", "campaigns:delete", "Campaigns:read", "campaigns:read ", "billing:read", "*"]
)
def test_invalid_permission_names(name: str) -> None:
    """`require()` relies on this to reject typos at import time rather than deny silently."""
    assert not is_valid_permission(name)


def test_permission_sets_are_immutable() -> None:
    """Callers get the shared set; it must not be possible to grant by mutating it."""
    assert isinstance(permissions_of("manager"), frozenset)
