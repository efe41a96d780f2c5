"""Domain errors: what went wrong, in the language of the use case, with no HTTP in sight.

Service layers and domain modules raise these; the app factory maps each class to an RFC 9457
problem (`shared.problems.STATUS_OF`), so the mapping lives in one place and a use case can be
called from a route, an event handler or a command line alike. Subclass them for a sharper
meaning (e.g. `AccountLocked(Locked)`); `code` becomes the problem's `type`, `extra` its members.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base of every expected failure. `detail` is safe to show to the caller."""

    code: str | None = None

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra


class InvalidInput(DomainError):
    """Well-formed but unacceptable input (e.g. a weak password); `errors` may name the fields."""

    code = "validation-error"


class BadReference(DomainError):
    """The request refers to something in a way that can never work (a bad cursor, a bad token)."""


class NotAuthenticated(DomainError):
    """Who is calling is unknown or no longer valid (bad credentials, a deactivated account)."""

    code = "unauthorized"


class PermissionDenied(DomainError):
    code = "forbidden"


class NotFound(DomainError):
    """Also what another tenant's object is: its existence is not revealed."""

    code = "not-found"


class Conflict(DomainError):
    """The current state forbids the change (an illegal transition, a duplicate, a last owner)."""

    code = "conflict"


class Gone(DomainError):
    """It existed but has expired or been used up."""

    code = "gone"


class Locked(DomainError):
    code = "locked"


class PreconditionFailed(DomainError):
    """An optimistic-concurrency check failed (a stale `If-Match`)."""

    code = "precondition-failed"


class Unavailable(DomainError):
    """A dependency is down; try again later (`retry_after` seconds when known)."""

    code = "unavailable"
