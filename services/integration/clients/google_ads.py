"""Google Ads over its REST interface: GAQL through `googleAds:searchStream` (one answer, every
row, no paging), campaigns through `campaignBudgets:mutate` / `campaigns:mutate`, OAuth 2.0 with
PKCE at Google's token endpoint.

Google has no idempotency key for creates, so our key is stamped into the campaign name
(` [bz:<key>]`); `create_campaign` looks for it first, and the campaign budget is named after
the key too, so a retry after a crash between the two creates reuses the budget.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

import httpx

from services.integration.clients.base import (
    CampaignDraft,
    Channel,
    Grant,
    OAuthApp,
    PlatformCampaign,
    ProviderError,
    TokenSet,
    checked_key,
    minor_unit_factor,
    stamp_name,
    stamped_key,
)
from services.integration.clients.transport import (
    ProviderTransport,
    TokenEndpoint,
    TransportSettings,
    classify_google,
    json_of,
    numeric,
)

MICROS = 1_000_000
NAME_LIMIT = 255
DAILY_FIELDS = (
    "campaign.id",
    "campaign.name",
    "segments.date",
    "metrics.impressions",
    "metrics.clicks",
    "metrics.cost_micros",
    "metrics.conversions",
    "metrics.conversions_value",
    "customer.currency_code",
)


class GoogleAdsConnector:
    """`base_url` is googleads.googleapis.com; `oauth_base_url` serves `/token` (and, unless
    `authorization_base_url` names accounts.google.com, `/o/oauth2/v2/auth`). The developer
    token comes from `Grant.extras["developer_token"]`, else from `developer_token` here."""

    channel: Channel = "google_ads"
    trailing_days = 14
    scopes = ("https://www.googleapis.com/auth/adwords",)

    def __init__(
        self,
        base_url: str,
        oauth_base_url: str,
        api_version: str = "v18",
        *,
        developer_token: str | None = None,
        authorization_base_url: str | None = None,
        channel_type: str = "SEARCH",
        settings: TransportSettings | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api = f"{base_url.rstrip('/')}/{api_version}"
        self._authorize_url = f"{(authorization_base_url or oauth_base_url).rstrip('/')}/o/oauth2/v2/auth"
        self._developer_token = developer_token
        self._channel_type = channel_type
        self._http = ProviderTransport("google_ads", classify_google, settings, http_transport=http_transport)
        self._tokens = TokenEndpoint(self._http, f"{oauth_base_url.rstrip('/')}/token")

    # --- metrics ---------------------------------------------------------------------------

    async def fetch_daily(self, grant: Grant, since: date, until: date) -> list[dict[str, Any]]:
        query = (
            f"SELECT {', '.join(DAILY_FIELDS)} FROM campaign "
            f"WHERE segments.date BETWEEN '{since.isoformat()}' AND '{until.isoformat()}'"
        )
        return [_daily_row(row) for row in await self._search(grant, query)]

    # --- campaigns -------------------------------------------------------------------------

    async def find_campaign(self, grant: Grant, key: str) -> PlatformCampaign | None:
        # No brackets in the LIKE pattern: GAQL treats `[...]` as an escape; the exact stamp is
        # checked here instead.
        query = (
            "SELECT campaign.id, campaign.name, campaign.status FROM campaign "
            f"WHERE campaign.name LIKE '%bz:{checked_key(key)}%' AND campaign.status != 'REMOVED'"
        )
        for row in await self._search(grant, query):
            campaign = row["campaign"]
            if stamped_key(campaign["name"]) == key:
                return _platform_campaign(campaign, key)
        return None

    async def create_campaign(self, grant: Grant, draft: CampaignDraft) -> PlatformCampaign:
        """Finds the campaign stamped with the draft's key, else creates it (enabled, with its
        own daily budget and the draft's dates)."""
        found = await self.find_campaign(grant, draft.key)
        if found is not None:
            return found
        await self._check_currency(grant, draft.currency)
        budget = await self._ensure_budget(grant, draft)
        name = stamp_name(draft.name, draft.key, NAME_LIMIT)
        create: dict[str, Any] = {
            "name": name,
            "status": "ENABLED",
            "advertisingChannelType": self._channel_type,
            "campaignBudget": budget,
            "manualCpc": {},
        }
        create.update(_dates(draft.start, draft.end))
        try:
            resource = await self._mutate(grant, "campaigns", {"create": create}, idempotent=False)
        except ProviderError as exc:
            # A concurrent delivery of the same launch may have won: its campaign is ours too.
            raced = await self.find_campaign(grant, draft.key) if exc.kind == "rejected" else None
            if raced is None:
                raise
            return raced
        return PlatformCampaign(resource.rsplit("/", 1)[-1], name, "running", draft.key)

    async def set_running(self, grant: Grant, external_id: str, running: bool) -> None:
        update = {
            "resourceName": f"customers/{_customer(grant)}/campaigns/{_digits(external_id)}",
            "status": "ENABLED" if running else "PAUSED",
        }
        await self._mutate(grant, "campaigns", {"update": update, "updateMask": "status"})

    async def set_budget(self, grant: Grant, external_id: str, budget_minor: int, currency: str) -> None:
        query = (
            "SELECT campaign.campaign_budget, customer.currency_code FROM campaign "
            f"WHERE campaign.id = {_digits(external_id)}"
        )
        rows = await self._search(grant, query)
        if not rows or not rows[0]["campaign"].get("campaignBudget"):
            raise ProviderError("rejected", f"google_ads: campaign {external_id} has no budget to change")
        _same_currency(rows[0].get("customer", {}).get("currencyCode"), currency)
        update = {
            "resourceName": rows[0]["campaign"]["campaignBudget"],
            "amountMicros": _micros(budget_minor, currency),
        }
        await self._mutate(grant, "campaignBudgets", {"update": update, "updateMask": "amountMicros"})

    async def _ensure_budget(self, grant: Grant, draft: CampaignDraft) -> str:
        name = f"bz:{checked_key(draft.key)}"
        query = (
            "SELECT campaign_budget.resource_name FROM campaign_budget "
            f"WHERE campaign_budget.name = '{name}' AND campaign_budget.status = 'ENABLED'"
        )
        rows = await self._search(grant, query)
        if rows:
            return str(rows[0]["campaignBudget"]["resourceName"])
        create = {
            "name": name,
            "amountMicros": _micros(draft.budget_minor, draft.currency),
            "deliveryMethod": "STANDARD",
            "explicitlyShared": False,
        }
        return await self._mutate(grant, "campaignBudgets", {"create": create}, idempotent=False)

    async def _check_currency(self, grant: Grant, currency: str) -> None:
        rows = await self._search(grant, "SELECT customer.currency_code FROM customer")
        _same_currency(rows[0]["customer"].get("currencyCode") if rows else None, currency)

    # --- OAuth -----------------------------------------------------------------------------

    def authorization_url(self, app: OAuthApp, state: str, code_challenge: str) -> str:
        query = {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": app.redirect_uri,
            "scope": " ".join(self.scopes),
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            "access_type": "offline",  # a refresh token
            "prompt": "consent",  # ... every time, not only on the first consent
        }
        return f"{self._authorize_url}?{urlencode(query)}"

    async def exchange_code(self, app: OAuthApp, code: str, code_verifier: str) -> TokenSet:
        return await self._tokens.exchange_code(app, code, code_verifier)

    async def refresh(self, app: OAuthApp, refresh_token: str) -> TokenSet:
        """Google keeps the refresh token; the answer omits it, so the one given stays."""
        return await self._tokens.refresh(app, refresh_token)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- wire ------------------------------------------------------------------------------

    def _headers(self, grant: Grant) -> dict[str, str]:
        developer_token = grant.extras.get("developer_token") or self._developer_token
        if not developer_token:
            raise ProviderError("rejected", "google_ads: no developer token configured")
        headers = {"Authorization": f"Bearer {grant.access_token}", "developer-token": developer_token}
        login = grant.extras.get("login_customer_id")
        if login:
            headers["login-customer-id"] = _digits(login.replace("-", ""))
        return headers

    async def _search(self, grant: Grant, query: str) -> list[dict[str, Any]]:
        customer = _customer(grant)
        response = await self._http.request(
            "POST",
            f"{self._api}/customers/{customer}/googleAds:searchStream",
            account=customer,
            headers=self._headers(grant),
            json={"query": query},
        )
        batches = json_of(response)
        return [row for batch in batches for row in batch.get("results", [])]

    async def _mutate(
        self, grant: Grant, resource: str, operation: dict[str, Any], idempotent: bool = True
    ) -> str:
        customer = _customer(grant)
        response = await self._http.request(
            "POST",
            f"{self._api}/customers/{customer}/{resource}:mutate",
            account=customer,
            idempotent=idempotent,
            headers=self._headers(grant),
            json={"operations": [operation]},
        )
        return str(json_of(response)["results"][0]["resourceName"])


def _daily_row(row: dict[str, Any]) -> dict[str, Any]:
    """Google's REST JSON leaves zero values out and sends int64 as strings."""
    metrics = row.get("metrics", {})
    return {
        "external_campaign_id": str(row["campaign"]["id"]),
        "channel": "google_ads",
        "date": row["segments"]["date"],
        "currency": row.get("customer", {}).get("currencyCode"),
        "impressions": int(metrics.get("impressions", 0)),
        "clicks": int(metrics.get("clicks", 0)),
        "cost_micros": int(metrics.get("costMicros", 0)),
        "conversions": metrics.get("conversions", 0),
        "conversions_value": metrics.get("conversionsValue", 0),
    }


def _platform_campaign(campaign: dict[str, Any], key: str | None) -> PlatformCampaign:
    status = "running" if campaign.get("status") == "ENABLED" else "stopped"
    return PlatformCampaign(str(campaign["id"]), campaign["name"], status, key)


def _dates(start: datetime | None, end: datetime | None) -> dict[str, str]:
    dates = {}
    if start is not None:
        dates["startDate"] = start.date().isoformat()
    if end is not None:
        dates["endDate"] = end.date().isoformat()
    return dates


def _micros(budget_minor: int, currency: str) -> str:
    return str(budget_minor * (MICROS // minor_unit_factor(currency)))


def _same_currency(account_currency: str | None, currency: str) -> None:
    if account_currency and account_currency.upper() != currency.upper():
        raise ProviderError(
            "rejected", f"google_ads: budget in {currency} but the account bills in {account_currency}"
        )


def _customer(grant: Grant) -> str:
    return _digits(grant.account_id.replace("-", ""))


def _digits(value: str) -> str:
    return numeric(value, "google_ads")
