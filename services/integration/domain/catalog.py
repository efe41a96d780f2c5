"""The providers a tenant can connect, and what each connection needs.

Credentials are the secret fields (sealed at rest, never returned); options are the plain ones a
connection shows back. OAuth providers may be connected with tokens the tenant already holds or
through the authorization-code flow with PKCE.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Field:
    name: str
    description: str
    required: bool = True


@dataclass(frozen=True)
class Provider:
    name: str
    title: str
    kind: str  # ads | billing | marketing_automation
    auth: str  # oauth2 | api_key | basic
    credentials: tuple[Field, ...]
    options: tuple[Field, ...] = ()
    scopes: tuple[str, ...] = ()
    channel: str | None = None  # the campaign channel an ads provider serves
    trailing_days: int = 0  # re-pulled on each incremental sync: late conversions
    connectable: bool = True  # False: the platform's own account (Stripe bills tenants)

    @property
    def syncs(self) -> bool:
        return self.kind == "ads"


OAUTH_TOKENS = (
    Field("access_token", "An OAuth access token for the account."),
    Field(
        "refresh_token", "The refresh token (Google, LinkedIn); Meta's long-lived tokens have none.", False
    ),
    Field("expires_in", "Seconds the access token stays valid.", False),
)

PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        Provider(
            "google_ads",
            "Google Ads",
            "ads",
            "oauth2",
            OAUTH_TOKENS,
            (Field("login_customer_id", "The manager account the customer is reached through.", False),),
            ("https://www.googleapis.com/auth/adwords",),
            channel="google_ads",
            trailing_days=14,
        ),
        Provider(
            "meta_ads",
            "Meta Ads",
            "ads",
            "oauth2",
            OAUTH_TOKENS,
            (Field("business_id", "The business the ad account belongs to.", False),),
            ("ads_read", "ads_management"),
            channel="meta_ads",
            trailing_days=28,
        ),
        Provider(
            "linkedin_ads",
            "LinkedIn Ads",
            "ads",
            "oauth2",
            OAUTH_TOKENS,
            (),
            ("r_ads", "r_ads_reporting", "rw_ads"),
            channel="linkedin_ads",
            trailing_days=7,
        ),
        Provider(
            "mautic",
            "Mautic",
            "marketing_automation",
            "basic",
            (
                Field("username", "API user (HTTP Basic).", False),
                Field("password", "Its password.", False),
                Field("client_id", "OAuth2 client id (client credentials), instead of Basic.", False),
                Field("client_secret", "OAuth2 client secret.", False),
            ),
            (Field("base_url", "The Mautic instance, e.g. https://mautic.example.com."),),
        ),
        Provider(
            "stripe",
            "Stripe (billing)",
            "billing",
            "api_key",
            (),
            connectable=False,
        ),
    )
}


class InvalidConnection(ValueError):
    """A connection request that does not fit its provider; the message names the field."""


def check_fields(provider: Provider, credentials: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """Every required field given, nothing unknown, Mautic with Basic or client credentials."""
    for given, declared, what in (
        (credentials, provider.credentials, "credential"),
        (options, provider.options, "option"),
    ):
        names = {f.name for f in declared}
        unknown = sorted(set(given) - names)
        if unknown:
            raise InvalidConnection(f"{provider.name} has no {what} {unknown[0]!r}")
        missing = [f.name for f in declared if f.required and not given.get(f.name)]
        if missing:
            raise InvalidConnection(f"{provider.name} needs the {what} {missing[0]!r}")
    if provider.name == "mautic":
        basic = credentials.get("username") and credentials.get("password")
        client = credentials.get("client_id") and credentials.get("client_secret")
        if not (basic or client):
            raise InvalidConnection("mautic needs username and password, or client_id and client_secret")
