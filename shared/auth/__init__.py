"""Auth primitives: token verification against JWKS, RBAC, FastAPI dependencies, service tokens."""

from shared.auth.deps import get_principal, require
from shared.auth.permissions import ROLES, permissions_of
from shared.auth.tokens import JwksCache, Principal, TokenError, TokenVerifier

__all__ = [
    "ROLES",
    "JwksCache",
    "Principal",
    "TokenError",
    "TokenVerifier",
    "get_principal",
    "permissions_of",
    "require",
]
