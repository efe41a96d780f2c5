"""The identity rules of user_management, without a database or HTTP: these decide who gets in and
who may do what, so each rule is pinned down here on its own."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from services.user_management.domain import (
    LockoutPolicy,
    check_keeps_an_owner,
    check_role_change,
    may_manage,
    new_tenant_token,
    password_problems,
    plan_after_payment,
    tenant_of_token,
    token_digest,
)
from shared import errors

EMAIL = "Jane.Doe@acme.io"
MIN_LENGTH = 10
NOW = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


# --- passwords -------------------------------------------------------------------------------


def test_an_acceptable_password_has_no_problems() -> None:
    """A long, varied password unrelated to the email must pass, or nobody could register."""
    assert password_problems("correct horse battery staple", EMAIL, MIN_LENGTH) == []


def test_a_password_at_exactly_the_minimum_length_is_accepted() -> None:
    """The minimum is inclusive: off-by-one here would reject passwords the docs promise to accept."""
    assert password_problems("abcdefghij", EMAIL, MIN_LENGTH) == []


def test_a_short_password_is_refused_naming_the_minimum() -> None:
    """The message tells the user the configured minimum, not a hard-coded one."""
    assert password_problems("abcdefghi", EMAIL, MIN_LENGTH) == ["must be at least 10 characters"]
    assert password_problems("abcdefghi", EMAIL, 8) == []


def test_a_password_longer_than_128_characters_is_refused() -> None:
    """The cap bounds hashing cost (a huge password is a cheap denial of service)."""
    assert password_problems("abcd" * 32, EMAIL, MIN_LENGTH) == []
    assert password_problems("abcd" * 32 + "e", EMAIL, MIN_LENGTH) == ["must be at most 128 characters"]


@pytest.mark.parametrize("password", ["jane.doe-2025!", "My JANE.DOE secret", "xxjane.doexx-99"])
def test_a_password_containing_the_email_local_part_is_refused(password: str) -> None:
    """The local part is the first thing an attacker guesses; case must not hide it."""
    assert password_problems(password, EMAIL, MIN_LENGTH) == ["must not contain your email address"]


def test_a_password_equal_to_the_email_is_refused() -> None:
    """Even when the local part is too short to be checked on its own, the whole email is."""
    email = "jo@acme.io"
    assert password_problems("JO@ACME.IO", email, MIN_LENGTH) == ["must not contain your email address"]


def test_a_very_short_local_part_does_not_forbid_common_substrings() -> None:
    """A two-letter local part would rule out half the dictionary, so it is not checked alone."""
    assert password_problems("journey to the west", "jo@acme.io", MIN_LENGTH) == []


def test_a_password_with_few_distinct_characters_is_refused() -> None:
    """'aaaaaaaaaa' and 'abababab...' meet the length rule but are trivially guessable."""
    assert password_problems("aaaaaaaaaaaa", EMAIL, MIN_LENGTH) == [
        "must use more than a few distinct characters"
    ]
    assert password_problems("abcabcabcabc", EMAIL, MIN_LENGTH) == [
        "must use more than a few distinct characters"
    ]
    assert password_problems("abcdabcdabcd", EMAIL, MIN_LENGTH) == []


def test_every_problem_is_reported_at_once() -> None:
    """The user fixes everything in one go instead of discovering rules one by one."""
    assert password_problems("aaa", EMAIL, MIN_LENGTH) == [
        "must be at least 10 characters",
        "must use more than a few distinct characters",
    ]


# --- roles -----------------------------------------------------------------------------------


def _kind(actor: str, target: str | None, new: str) -> str | None:
    """The refusal as the API will map it: forbidden (403), invalid (422), or None."""
    try:
        check_role_change(actor, target, new)
    except errors.PermissionDenied:
        return "forbidden"
    except errors.InvalidInput:
        return "invalid"
    return None


@pytest.mark.parametrize("new_role", ["admin", "owner"])
def test_only_an_owner_grants_admin_or_owner(new_role: str) -> None:
    """An admin minting admins (or owners) would be a privilege escalation."""
    assert _kind("owner", None, new_role) is None
    assert _kind("owner", "viewer", new_role) is None
    assert _kind("admin", None, new_role) == "forbidden"
    assert _kind("admin", "viewer", new_role) == "forbidden"
    assert _kind("manager", "viewer", new_role) == "forbidden"


@pytest.mark.parametrize("new_role", ["viewer", "analyst", "manager"])
def test_an_admin_manages_lower_roles(new_role: str) -> None:
    """Admins run the day-to-day: creating and re-roling users below admin."""
    assert _kind("admin", None, new_role) is None
    assert _kind("admin", "viewer", new_role) is None
    assert _kind("admin", "manager", new_role) is None


def test_an_admin_cannot_demote_another_admin() -> None:
    """Two admins must not be able to remove each other's powers: only an owner decides that."""
    assert _kind("admin", "admin", "viewer") == "forbidden"
    assert _kind("owner", "admin", "viewer") is None
    assert not may_manage("admin", "admin") and may_manage("owner", "owner")


def test_nobody_changes_a_user_ranked_above_them() -> None:
    """An admin must not demote the owner, nor a manager demote an admin."""
    assert _kind("admin", "owner", "viewer") == "forbidden"
    assert _kind("manager", "admin", "viewer") == "forbidden"
    assert _kind("viewer", "analyst", "viewer") == "forbidden"


def test_an_unknown_role_is_invalid_whoever_asks() -> None:
    """A typo or a made-up role is a 422, never silently stored."""
    assert _kind("owner", None, "superuser") == "invalid"
    assert _kind("owner", "viewer", "Owner") == "invalid"


def test_the_violation_carries_a_message() -> None:
    """The message becomes the problem's detail, so it must say what was refused."""
    with pytest.raises(errors.PermissionDenied, match="only an owner"):
        check_role_change("admin", None, "owner")


def test_the_last_active_owner_cannot_be_demoted_or_removed() -> None:
    """A tenant without an owner could never manage billing or grant admin again."""
    for new_role in ("admin", "viewer", None):
        with pytest.raises(errors.Conflict):
            check_keeps_an_owner("owner", new_role, active_owners=1)


def test_an_owner_can_go_when_another_remains() -> None:
    """With a second active owner the tenant stays manageable."""
    check_keeps_an_owner("owner", "admin", active_owners=2)
    check_keeps_an_owner("owner", None, active_owners=2)


def test_owners_stay_owners_and_others_are_unaffected() -> None:
    """Keeping the owner role, or changing a non-owner, never trips the rule."""
    check_keeps_an_owner("owner", "owner", active_owners=1)
    check_keeps_an_owner("admin", None, active_owners=1)
    check_keeps_an_owner("viewer", "manager", active_owners=0)


# --- lockout ---------------------------------------------------------------------------------

POLICY = LockoutPolicy(threshold=5, duration=timedelta(minutes=15))


def test_failures_below_the_threshold_only_count() -> None:
    """Four wrong passwords are a typo streak, not an attack."""
    failures = 0
    for expected in range(1, 5):
        failures, locked_until = POLICY.after_failure(failures, NOW)
        assert (failures, locked_until) == (expected, None)


def test_reaching_the_threshold_locks_for_the_duration_and_resets_the_count() -> None:
    """The fifth failure locks; the counter restarts so the next lock needs five more."""
    assert POLICY.after_failure(4, NOW) == (0, NOW + timedelta(minutes=15))


def test_a_threshold_of_one_locks_on_the_first_failure() -> None:
    """The strictest setting must work too."""
    assert LockoutPolicy(1, timedelta(minutes=1)).after_failure(0, NOW) == (0, NOW + timedelta(minutes=1))


def test_is_locked_until_the_end_and_not_after() -> None:
    """The lock ends exactly at `locked_until`; no lock at all means not locked."""
    end = NOW + timedelta(minutes=15)
    assert LockoutPolicy.is_locked(end, NOW)
    assert LockoutPolicy.is_locked(end, end - timedelta(microseconds=1))
    assert not LockoutPolicy.is_locked(end, end)
    assert not LockoutPolicy.is_locked(end, end + timedelta(seconds=1))
    assert not LockoutPolicy.is_locked(None, NOW)


# --- opaque tenant tokens --------------------------------------------------------------------


def test_a_tenant_token_names_its_tenant() -> None:
    """Refresh and invite tokens carry the tenant so lookups run under row level security."""
    tenant = uuid.uuid4()
    token = new_tenant_token(tenant, "rt")
    assert token.startswith(f"rt_{tenant.hex}_")
    assert tenant_of_token(token, "rt") == tenant


def test_tenant_tokens_are_unpredictable() -> None:
    """Two tokens for the same tenant must differ, with plenty of randomness after the tenant."""
    tenant = uuid.uuid4()
    first, second = new_tenant_token(tenant, "inv"), new_tenant_token(tenant, "inv")
    assert first != second
    assert len(first.split("_", 2)[2]) >= 40


def test_a_token_of_another_kind_is_not_accepted() -> None:
    """An invite token must never work as a refresh token, and vice versa."""
    token = new_tenant_token(uuid.uuid4(), "inv")
    assert tenant_of_token(token, "rt") is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "rt",
        "rt_",
        "rt_nothex_secret",
        f"rt_{uuid.uuid4().hex}",
        f"rt_{uuid.uuid4().hex[:-2]}_secret",
        f"RT_{uuid.uuid4().hex}_secret",
        f"_rt_{uuid.uuid4().hex}_secret",
    ],
)
def test_malformed_tokens_name_no_tenant(token: str) -> None:
    """Garbage must yield None (a 401 upstream), never an exception (a 500)."""
    assert tenant_of_token(token, "rt") is None


def test_the_digest_is_deterministic_and_distinguishes_tokens() -> None:
    """Only digests are stored, so the same token must always hash to the same lookup key."""
    token = new_tenant_token(uuid.uuid4(), "rt")
    assert token_digest(token) == token_digest(token)
    assert token_digest(token) != token_digest(token + "x")
    assert len(token_digest(token)) == 64
    assert token_digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


# --- plans -----------------------------------------------------------------------------------


@pytest.mark.parametrize("current", ["basic", "pro", "enterprise"])
@pytest.mark.parametrize("paid", ["basic", "pro", "enterprise"])
def test_a_successful_payment_moves_to_the_paid_plan(current: str, paid: str) -> None:
    """Upgrades and downgrades both follow what was paid for."""
    assert plan_after_payment("payment.succeeded", paid, current) == paid


@pytest.mark.parametrize("paid", [None, "platinum", ""])
def test_a_successful_payment_for_an_unknown_plan_is_refused(paid: str | None) -> None:
    """A malformed event must not write a plan the rest of the fleet does not know."""
    with pytest.raises(errors.InvalidInput):
        plan_after_payment("payment.succeeded", paid, "basic")


@pytest.mark.parametrize("current", ["basic", "pro", "enterprise"])
def test_a_failed_payment_falls_back_to_basic(current: str) -> None:
    """Unpaid tenants keep working on the free plan rather than being cut off."""
    assert plan_after_payment("payment.failed", "pro", current) == "basic"
