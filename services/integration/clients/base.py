"""What every ad-platform connector offers the service layer, whatever its wire format.

A connector is stateless: each call gets the `Grant` it acts with (account, fresh access token,
provider extras such as Google's developer token). Rows come back in the provider's own field
names (Google `cost_micros`, Meta strings and `actions`, LinkedIn `costInLocalCurrency`) plus the
common keys analytics' ingestion reads (`external_campaign_id`, `channel`, `date`, `currency`):
analytics normalises them at its door, so the lineage keeps what the provider said.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Protocol

Channel = Literal["google_ads", "meta_ads", "linkedin_ads"]
ProblemKind = Literal["auth", "rate_limited", "unavailable", "rejected"]

ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "CLP", "VND", "ISK", "HUF", "TWD", "PYG", "UGX"})
_KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_STAMP = re.compile(r" \[bz:([A-Za-z0-9_.:-]{1,64})\]$")


class ProviderError(Exception):
    """A provider refused or failed a call. `kind` drives what the caller does:
    auth -> refresh the token once, then needs_reauth; rate_limited / unavailable -> retry later
    (after `retry_after` seconds when the provider said); rejected -> permanent for this input.
    The message is the provider's own, without tokens or secrets."""

    def __init__(self, kind: ProblemKind, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


@dataclass(frozen=True)
class Grant:
    """What one call acts with. `account_id` is the provider's ad account (Google customer id
    without dashes, Meta `act_` id without the prefix, LinkedIn sponsored account id)."""

    account_id: str
    access_token: str
    extras: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Grant(account_id={self.account_id!r})"


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: datetime | None

    def __repr__(self) -> str:
        return f"TokenSet(expires_at={self.expires_at!r})"


@dataclass(frozen=True)
class OAuthApp:
    """Our application's registration at the provider (from configuration)."""

    client_id: str
    client_secret: str
    redirect_uri: str

    def __repr__(self) -> str:
        return f"OAuthApp(client_id={self.client_id!r})"


@dataclass(frozen=True)
class PlatformCampaign:
    """A campaign as the platform holds it; `key` is our campaign id when we created it."""

    external_id: str
    name: str
    status: Literal["running", "stopped"]
    key: str | None = None


@dataclass(frozen=True)
class CampaignDraft:
    """What a launch asks a platform to run. Budget in minor units of the account currency."""

    key: str  # our campaign id: stamped on the platform campaign so a re-delivery finds it
    name: str
    budget_minor: int
    currency: str
    start: datetime | None
    end: datetime | None


class Connector(Protocol):
    channel: Channel
    trailing_days: int  # re-pulled on every incremental sync: conversions arrive late
    scopes: tuple[str, ...]

    async def fetch_daily(self, grant: Grant, since: date, until: date) -> list[dict[str, Any]]:
        """Daily rows per campaign for the days since..until (both included), all pages."""
        ...

    async def find_campaign(self, grant: Grant, key: str) -> PlatformCampaign | None: ...

    async def create_campaign(self, grant: Grant, draft: CampaignDraft) -> PlatformCampaign: ...

    async def set_running(self, grant: Grant, external_id: str, running: bool) -> None: ...

    async def set_budget(self, grant: Grant, external_id: str, budget_minor: int, currency: str) -> None: ...

    def authorization_url(self, app: OAuthApp, state: str, code_challenge: str) -> str: ...

    async def exchange_code(self, app: OAuthApp, code: str, code_verifier: str) -> TokenSet: ...

    async def refresh(self, app: OAuthApp, refresh_token: str) -> TokenSet: ...

    async def aclose(self) -> None: ...


def stamp_name(name: str, key: str, limit: int) -> str:
    """The platform name of a campaign we create: the user's name, then ` [bz:<key>]`. The key
    is what finds the campaign again after a crash or a redelivered launch (platforms have no
    idempotency key for creates), so the user's part is shortened, never the stamp."""
    stamp = f" [bz:{checked_key(key)}]"
    return name.strip()[: max(0, limit - len(stamp))].rstrip() + stamp


def checked_key(key: str) -> str:
    """Our campaign key, refused unless plain (letters, digits, `_.:-`): it is spliced into
    provider queries (GAQL, Graph filtering) and must never be able to change their meaning."""
    if not _KEY.fullmatch(key):
        raise ProviderError("rejected", "campaign key must be 1-64 letters, digits or _.:-")
    return key


def stamped_key(name: str) -> str | None:
    """The key stamped on a platform campaign's name by `stamp_name`, if any."""
    match = _STAMP.search(name)
    return match.group(1) if match else None


def minor_unit_factor(currency: str) -> int:
    """Minor units per currency unit (budgets travel in minor units, platforms want units or
    micros): 1 for zero-decimal currencies such as JPY, else 100."""
    return 1 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 100
