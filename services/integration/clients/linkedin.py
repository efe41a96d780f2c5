"""LinkedIn Marketing API (versioned `/rest`, Rest.li 2.0): daily adAnalytics per campaign, ad
campaigns of the sponsored account, OAuth 2.0 at www.linkedin.com.

Rest.li 2.0 query values (`List(...)`, `(key:value)`) are written by hand into the query string:
an HTTP library would percent-encode their parentheses and colons. adAnalytics money comes as
decimal strings in the account currency, which it does not name, so it is read from the account.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from services.integration.clients.base import (
    CampaignDraft,
    Channel,
    Grant,
    OAuthApp,
    PlatformCampaign,
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
    classify_linkedin,
    json_of,
    numeric,
)

ACCOUNT_URN = "urn:li:sponsoredAccount:"
NAME_LIMIT = 255
LIVE_STATUSES = "List(ACTIVE,PAUSED,DRAFT)"
ANALYTICS_FIELDS = (
    "pivotValues",
    "dateRange",
    "impressions",
    "clicks",
    "costInLocalCurrency",
    "externalWebsiteConversions",
    "conversionValueInLocalCurrency",
)


class LinkedInConnector:
    """`base_url` is api.linkedin.com, `oauth_base_url` www.linkedin.com; `version` is the
    LinkedIn-Version (YYYYMM) every /rest call names. Campaigns we create join the campaign
    group `Grant.extras["campaign_group"]` (an id or URN) when the grant names one."""

    channel: Channel = "linkedin_ads"
    trailing_days = 7
    scopes = ("r_ads", "rw_ads", "r_ads_reporting")

    def __init__(
        self,
        base_url: str,
        oauth_base_url: str,
        version: str = "202510",
        *,
        page_size: int = 1000,
        settings: TransportSettings | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._rest = f"{base_url.rstrip('/')}/rest"
        self._oauth = f"{oauth_base_url.rstrip('/')}/oauth/v2"
        self._version = version
        self._page_size = page_size
        self._http = ProviderTransport("linkedin", classify_linkedin, settings, http_transport=http_transport)
        self._tokens = TokenEndpoint(self._http, f"{self._oauth}/accessToken")

    # --- metrics ---------------------------------------------------------------------------

    async def fetch_daily(self, grant: Grant, since: date, until: date) -> list[dict[str, Any]]:
        account = _account(grant)
        currency = await self._currency(grant)
        query = (
            "q=analytics&pivot=CAMPAIGN&timeGranularity=DAILY"
            f"&dateRange=(start:{_ymd(since)},end:{_ymd(until)})"
            f"&accounts=List({quote(ACCOUNT_URN + account, safe='')})"
            f"&fields={','.join(ANALYTICS_FIELDS)}"
        )
        rows: list[dict[str, Any]] = []
        start = 0
        while True:
            url = f"{self._rest}/adAnalytics?{query}&start={start}&count={self._page_size}"
            body = json_of(await self._call(grant, "GET", url))
            rows.extend(_daily_row(element, currency) for element in body.get("elements", []))
            if not _has_next(body):
                return rows
            start += self._page_size

    async def _currency(self, grant: Grant) -> str:
        body = json_of(await self._call(grant, "GET", f"{self._rest}/adAccounts/{_account(grant)}"))
        return str(body["currency"])

    # --- campaigns -------------------------------------------------------------------------

    async def find_campaign(self, grant: Grant, key: str) -> PlatformCampaign | None:
        """The campaign search matches whole names only, so the account's live campaigns are
        listed (cursor pages) and the stamp is matched here."""
        checked_key(key)
        base = f"{self._rest}/adAccounts/{_account(grant)}/adCampaigns?q=search"
        base += f"&search=(status:(values:{LIVE_STATUSES}))&pageSize={self._page_size}"
        token: str | None = None
        while True:
            url = base + (f"&pageToken={quote(token, safe='')}" if token else "")
            body = json_of(await self._call(grant, "GET", url))
            for element in body.get("elements", []):
                if stamped_key(element.get("name", "")) == key:
                    return _platform_campaign(element, key)
            token = body.get("metadata", {}).get("nextPageToken")
            if not token:
                return None

    async def create_campaign(self, grant: Grant, draft: CampaignDraft) -> PlatformCampaign:
        """Finds the campaign stamped with the draft's key, else creates it active with a daily
        budget and the draft's run schedule; the id comes back in `x-restli-id`."""
        found = await self.find_campaign(grant, draft.key)
        if found is not None:
            return found
        name = stamp_name(draft.name, draft.key, NAME_LIMIT)
        body = _new_campaign(grant, draft, name)
        url = f"{self._rest}/adAccounts/{_account(grant)}/adCampaigns"
        response = await self._call(grant, "POST", url, idempotent=False, json=body)
        return PlatformCampaign(response.headers["x-restli-id"], name, "running", draft.key)

    async def set_running(self, grant: Grant, external_id: str, running: bool) -> None:
        await self._patch(grant, external_id, {"status": "ACTIVE" if running else "PAUSED"})

    async def set_budget(self, grant: Grant, external_id: str, budget_minor: int, currency: str) -> None:
        """LinkedIn checks the currency against the account's and refuses a mismatch."""
        await self._patch(grant, external_id, {"dailyBudget": _money(budget_minor, currency)})

    async def _patch(self, grant: Grant, external_id: str, fields: dict[str, Any]) -> None:
        url = f"{self._rest}/adAccounts/{_account(grant)}/adCampaigns/{numeric(external_id, 'linkedin')}"
        headers = {"X-RestLi-Method": "PARTIAL_UPDATE"}
        await self._call(grant, "POST", url, headers=headers, json={"patch": {"$set": fields}})

    # --- OAuth -----------------------------------------------------------------------------

    def authorization_url(self, app: OAuthApp, state: str, code_challenge: str) -> str:
        query = {
            "response_type": "code",
            "client_id": app.client_id,
            "redirect_uri": app.redirect_uri,
            "state": state,
            "scope": " ".join(self.scopes),
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return f"{self._oauth}/authorization?{urlencode(query)}"

    async def exchange_code(self, app: OAuthApp, code: str, code_verifier: str) -> TokenSet:
        return await self._tokens.exchange_code(app, code, code_verifier)

    async def refresh(self, app: OAuthApp, refresh_token: str) -> TokenSet:
        """LinkedIn answers with the same refresh token (it lives a year from consent)."""
        return await self._tokens.refresh(app, refresh_token)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- wire ------------------------------------------------------------------------------

    async def _call(
        self,
        grant: Grant,
        method: str,
        url: str,
        idempotent: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        sent = {
            "Authorization": f"Bearer {grant.access_token}",
            "LinkedIn-Version": self._version,
            "X-Restli-Protocol-Version": "2.0.0",
            **(headers or {}),
        }
        return await self._http.request(
            method, url, account=_account(grant), idempotent=idempotent, headers=sent, **kwargs
        )


def _daily_row(element: dict[str, Any], currency: str) -> dict[str, Any]:
    start = element["dateRange"]["start"]
    return {
        "external_campaign_id": str(element["pivotValues"][0]).rsplit(":", 1)[-1],
        "channel": "linkedin_ads",
        "date": date(int(start["year"]), int(start["month"]), int(start["day"])).isoformat(),
        "currency": currency,
        "impressions": element.get("impressions", 0),
        "clicks": element.get("clicks", 0),
        "costInLocalCurrency": element.get("costInLocalCurrency", "0"),
        "externalWebsiteConversions": element.get("externalWebsiteConversions", 0),
        "conversionValueInLocalCurrency": element.get("conversionValueInLocalCurrency", "0"),
    }


def _has_next(body: dict[str, Any]) -> bool:
    links = body.get("paging", {}).get("links", [])
    return any(link.get("rel") == "next" for link in links)


def _new_campaign(grant: Grant, draft: CampaignDraft, name: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "account": ACCOUNT_URN + _account(grant),
        "name": name,
        "type": "SPONSORED_UPDATES",
        "costType": "CPM",
        "objectiveType": "WEBSITE_VISIT",
        "status": "ACTIVE",
        "dailyBudget": _money(draft.budget_minor, draft.currency),
        "locale": {"country": "US", "language": "en"},
        "offsiteDeliveryEnabled": False,
    }
    group = grant.extras.get("campaign_group")
    if group:
        body["campaignGroup"] = (
            group if group.startswith("urn:") else f"urn:li:sponsoredCampaignGroup:{group}"
        )
    schedule = {k: _millis(v) for k, v in (("start", draft.start), ("end", draft.end)) if v is not None}
    if schedule:
        body["runSchedule"] = schedule
    return body


def _platform_campaign(element: dict[str, Any], key: str) -> PlatformCampaign:
    status = "running" if element.get("status") == "ACTIVE" else "stopped"
    return PlatformCampaign(str(element["id"]), element["name"], status, key)


def _money(budget_minor: int, currency: str) -> dict[str, str]:
    factor = minor_unit_factor(currency)
    amount = (Decimal(budget_minor) / factor).quantize(Decimal(1) / factor)
    return {"amount": str(amount), "currencyCode": currency.upper()}


def _ymd(day: date) -> str:
    return f"(year:{day.year},month:{day.month},day:{day.day})"


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _account(grant: Grant) -> str:
    return numeric(grant.account_id.removeprefix(ACCOUNT_URN), "linkedin")
