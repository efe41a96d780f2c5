"""Judging a password: Argon2 outside any transaction, the verdict recorded under the row lock.

Hashing is slow by design. Holding a pooled connection and a row lock while it runs would let a
login flood stall every endpoint, so the hash is checked first with no connection held, then a
short transaction locks the user row, re-checks that nothing changed meanwhile, and records the
outcome (failures counted, lockout, security log). Every failed guess is counted, concurrent
ones included, because each is recorded under the lock.
"""

from __future__ import annotations

from services.user_management import domain
from services.user_management.events import UserLoginFailedLocked
from services.user_management.models import User
from services.user_management.passwords import Passwords
from services.user_management.repository import IdentityRepository
from services.user_management.service.common import Origin, log_security
from shared import errors
from shared.clock import utcnow
from shared.unit_of_work import Work

SUCCESS = {"failed_logins": 0, "locked_until": None}
"""What a use case writes, with its own changes, after `settle` accepted the password."""


class Credentials:
    def __init__(self, passwords: Passwords, lockout: domain.LockoutPolicy) -> None:
        self.passwords = passwords
        self.lockout = lockout

    async def matches(self, user: User, password: str) -> bool:
        """The slow part; call it with no transaction open. A locked account is not hashed."""
        if self.lockout.is_locked(user.locked_until, utcnow()):
            return False
        return await self.passwords.verify(user.password_hash, password)

    async def settle(
        self,
        work: Work[IdentityRepository],
        user: User | None,
        seen_hash: str | None,
        matched: bool,
        origin: Origin,
        wrong: errors.DomainError,
        failure_kind: str = "login_failed",
    ) -> errors.DomainError | None:
        """Record the verdict on the locked, fresh `user` row. Returns the error to raise once the
        transaction has committed (raising here would roll the recorded failure back), or None:
        then the caller writes `SUCCESS` with its own changes."""
        now = utcnow()
        if user is None or user.status != "active":
            return errors.NotAuthenticated("invalid email or password")
        if self.lockout.is_locked(user.locked_until, now):
            assert user.locked_until is not None
            await log_security(work.repo, user, failure_kind, origin, reason="locked")
            return domain.AccountLocked(user.locked_until)
        if matched and user.password_hash == seen_hash:
            return None
        if matched:
            return wrong  # the password changed while we were hashing: refuse, count nothing
        failures, locked_until = self.lockout.after_failure(user.failed_logins, now)
        user = await work.repo.update(user, failed_logins=failures, locked_until=locked_until)
        await log_security(work.repo, user, failure_kind, origin, reason="bad_password")
        if user.locked_until is None:
            return wrong
        await log_security(work.repo, user, "lockout", origin, locked_until=user.locked_until.isoformat())
        await work.emit(
            UserLoginFailedLocked(user_id=user.id, email=user.email, locked_until=user.locked_until)
        )
        return domain.AccountLocked(user.locked_until)
