"""The gateway's route table (DESIGN §6, §7): which upstream serves a path, and what is public.

Pure functions and data; no framework imports. Paths are never rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass

ROUTES: tuple[tuple[str, str], ...] = (
    ("/.well-known/jwks.json", "user_management"),
    ("/api/v1/auth", "user_management"),
    ("/api/v1/users", "user_management"),
    ("/api/v1/tenants", "user_management"),
    ("/api/v1/campaigns", "campaign_management"),
    ("/api/v1/funnels", "campaign_management"),
    ("/api/v1/analytics", "analytics"),
    ("/api/v1/integrations", "integration"),
    ("/api/v1/webhooks", "integration"),
    ("/api/v1/notifications", "notification"),
    ("/api/v1/ai", "ai_agents"),
)

# Public auth operations: no token needed, limited per client IP instead of per tenant.
PUBLIC_AUTH = frozenset(
    {
        ("POST", "/api/v1/auth/register"),
        ("POST", "/api/v1/auth/login"),
        ("POST", "/api/v1/auth/token"),
        ("POST", "/api/v1/auth/refresh"),
        ("POST", "/api/v1/auth/logout"),
        ("POST", "/api/v1/auth/service-token"),
        ("POST", "/api/v1/auth/accept-invite"),
        # The browser's return from a provider's consent page: the OAuth state names the tenant.
        ("GET", "/api/v1/integrations/oauth/callback"),
    }
)
# Reached by providers and by links in messages, without a token (each checks its own signature),
# limited per client IP and held to the smaller body cap.
WEBHOOK_PREFIXES = (
    "/api/v1/webhooks/",
    "/api/v1/notifications/callbacks/",
    "/api/v1/notifications/t/",
    "/api/v1/notifications/unsubscribe/",
)
PUBLIC_PATHS = frozenset({"/.well-known/jwks.json"})


@dataclass(frozen=True)
class Route:
    prefix: str
    upstream: str


def match(path: str) -> Route | None:
    """The route whose prefix is the path or a whole-segment ancestor of it."""
    for prefix, upstream in ROUTES:
        if path == prefix or path.startswith(prefix + "/") or (prefix.endswith(".json") and path == prefix):
            return Route(prefix, upstream)
    return None


def is_public_auth(method: str, path: str) -> bool:
    return (method, path.rstrip("/")) in PUBLIC_AUTH


def is_webhook(path: str) -> bool:
    return path.startswith(WEBHOOK_PREFIXES)


def is_public(method: str, path: str) -> bool:
    return is_public_auth(method, path) or path in PUBLIC_PATHS or is_webhook(path)


def parse_rate(spec: str) -> tuple[int, int]:
    """`"20/60"` -> (20 requests, 60 seconds)."""
    count, _, seconds = spec.partition("/")
    limit, window = int(count), int(seconds or 1)
    if limit < 1 or window < 1:
        raise ValueError(f"bad rate {spec!r}; expected '<requests>/<seconds>'")
    return limit, window
