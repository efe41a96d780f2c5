"""Meta Marketing API (Graph): daily campaign insights with cursor paging, campaigns on the ad
account, OAuth with PKCE and long-lived tokens.

Rows keep Graph's strings ("123", spend "12.34") and its `actions` / `action_values` lists as
sent: Meta reports one purchase under several action types, and analytics picks among them.
The access token travels in the Authorization header, never in a URL, so paging links and any
logged URL stay free of it; token calls send their secrets as a POST form for the same reason.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
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
    stamp_name,
    stamped_key,
)
from services.integration.clients.transport import (
    ProviderTransport,
    TokenEndpoint,
    TransportSettings,
    classify_meta,
    json_of,
    numeric,
    same_origin,
    token_set,
)

NAME_LIMIT = 400
INSIGHT_FIELDS = (
    "campaign_id",
    "campaign_name",
    "impressions",
    "clicks",
    "spend",
    "actions",
    "action_values",
    "account_currency",
)


class MetaConnector:
    """`base_url` is graph.facebook.com; the consent dialog lives on www.facebook.com
    (`dialog_base_url`, default `base_url`). `objective` is the ODAX objective of the campaigns
    we create, unless `Grant.extras["objective"]` names another."""

    channel: Channel = "meta_ads"
    trailing_days = 28
    scopes = ("ads_read", "ads_management")

    def __init__(
        self,
        base_url: str,
        api_version: str = "v21.0",
        *,
        dialog_base_url: str | None = None,
        objective: str = "OUTCOME_TRAFFIC",
        page_size: int = 500,
        settings: TransportSettings | None = None,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._api = f"{self._base_url}/{api_version}"
        self._dialog_url = f"{(dialog_base_url or base_url).rstrip('/')}/{api_version}/dialog/oauth"
        self._objective = objective
        self._page_size = page_size
        self._http = ProviderTransport("meta", classify_meta, settings, http_transport=http_transport)
        self._tokens = TokenEndpoint(self._http, f"{self._api}/oauth/access_token")

    # --- metrics ---------------------------------------------------------------------------

    async def fetch_daily(self, grant: Grant, since: date, until: date) -> list[dict[str, Any]]:
        params = {
            "level": "campaign",
            "time_increment": "1",
            "time_range": json.dumps({"since": since.isoformat(), "until": until.isoformat()}),
            "fields": ",".join(INSIGHT_FIELDS),
            "use_unified_attribution_setting": "true",  # the conversions Ads Manager shows
            "limit": str(self._page_size),
        }
        url = f"{self._api}/act_{_account(grant)}/insights"
        return [_daily_row(item) async for item in self._pages(grant, url, params)]

    # --- campaigns -------------------------------------------------------------------------

    async def find_campaign(self, grant: Grant, key: str) -> PlatformCampaign | None:
        """Graph's default listing leaves deleted and archived campaigns out, as we want."""
        rule = {"field": "name", "operator": "CONTAIN", "value": f"[bz:{checked_key(key)}]"}
        params = {"fields": "id,name,status", "filtering": json.dumps([rule]), "limit": "100"}
        url = f"{self._api}/act_{_account(grant)}/campaigns"
        async for item in self._pages(grant, url, params):
            if stamped_key(item.get("name", "")) == key:
                status = "running" if item.get("status") == "ACTIVE" else "stopped"
                return PlatformCampaign(str(item["id"]), item["name"], status, key)
        return None

    async def create_campaign(self, grant: Grant, draft: CampaignDraft) -> PlatformCampaign:
        """Finds the campaign stamped with the draft's key, else creates it active with a daily
        budget (campaign budget optimisation) and the draft's schedule."""
        found = await self.find_campaign(grant, draft.key)
        if found is not None:
            return found
        await self._check_currency(grant, draft.currency)
        name = stamp_name(draft.name, draft.key, NAME_LIMIT)
        form = {
            "name": name,
            "objective": grant.extras.get("objective") or self._objective,
            "status": "ACTIVE",
            "special_ad_categories": "[]",
            "daily_budget": str(draft.budget_minor),
        }
        if draft.start is not None:
            form["start_time"] = draft.start.isoformat()
        if draft.end is not None:
            form["stop_time"] = draft.end.isoformat()
        url = f"{self._api}/act_{_account(grant)}/campaigns"
        response = await self._call(grant, "POST", url, idempotent=False, data=form)
        return PlatformCampaign(str(json_of(response)["id"]), name, "running", draft.key)

    async def set_running(self, grant: Grant, external_id: str, running: bool) -> None:
        await self._update(grant, external_id, {"status": "ACTIVE" if running else "PAUSED"})

    async def set_budget(self, grant: Grant, external_id: str, budget_minor: int, currency: str) -> None:
        """Graph budgets are in the account currency's minor units, as ours are."""
        await self._check_currency(grant, currency)
        await self._update(grant, external_id, {"daily_budget": str(budget_minor)})

    async def _update(self, grant: Grant, external_id: str, form: dict[str, str]) -> None:
        url = f"{self._api}/{numeric(external_id, 'meta')}"
        await self._call(grant, "POST", url, data=form)

    async def _check_currency(self, grant: Grant, currency: str) -> None:
        url = f"{self._api}/act_{_account(grant)}"
        account = json_of(await self._call(grant, "GET", url, params={"fields": "currency"}))
        if str(account.get("currency", currency)).upper() != currency.upper():
            raise ProviderError(
                "rejected", f"meta: budget in {currency} but the account bills in {account['currency']}"
            )

    # --- OAuth -----------------------------------------------------------------------------

    def authorization_url(self, app: OAuthApp, state: str, code_challenge: str) -> str:
        query = {
            "client_id": app.client_id,
            "redirect_uri": app.redirect_uri,
            "state": state,
            "scope": ",".join(self.scopes),
            "response_type": "code",
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
        }
        return f"{self._dialog_url}?{urlencode(query)}"

    async def exchange_code(self, app: OAuthApp, code: str, code_verifier: str) -> TokenSet:
        """The code buys a short-lived user token (about two hours), traded at once for a
        long-lived one (about 60 days). Meta issues no refresh token: see `refresh`."""
        form = {
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "redirect_uri": app.redirect_uri,
            "code": code,
            "code_verifier": code_verifier,
        }
        short = token_set(await self._tokens.post(form, idempotent=False), None)
        return await self.refresh(app, short.access_token)

    async def refresh(self, app: OAuthApp, refresh_token: str) -> TokenSet:
        """Meta's long-lived tokens have no refresh token. Pass the *current access token* as
        `refresh_token`: it is exchanged (grant_type=fb_exchange_token) for a new long-lived
        token while it is still valid; once it has expired the user must consent again (the
        answer is then a ProviderError of kind "auth"). The TokenSet's refresh_token is None."""
        form = {
            "grant_type": "fb_exchange_token",
            "client_id": app.client_id,
            "client_secret": app.client_secret,
            "fb_exchange_token": refresh_token,
        }
        return token_set(await self._tokens.post(form, idempotent=True), None)

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- wire ------------------------------------------------------------------------------

    async def _call(
        self, grant: Grant, method: str, url: str, idempotent: bool = True, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {grant.access_token}"}
        return await self._http.request(
            method, url, account=_account(grant), idempotent=idempotent, headers=headers, **kwargs
        )

    async def _pages(
        self, grant: Grant, url: str, params: dict[str, str] | None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of a Graph listing: `paging.next` is a full URL, absent on the last page."""
        next_url: str | None = url
        while next_url:
            if not same_origin(next_url, self._base_url):
                raise ProviderError("unavailable", "meta: paging link leads off the Graph API")
            body = json_of(await self._call(grant, "GET", next_url, params=params))
            for item in body.get("data", []):
                yield item
            next_url, params = body.get("paging", {}).get("next"), None


def _daily_row(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "external_campaign_id": str(item["campaign_id"]),
        "channel": "meta_ads",
        "date": item["date_start"],
        "currency": item.get("account_currency"),
        "impressions": item.get("impressions", "0"),
        "clicks": item.get("clicks", "0"),
        "spend": item.get("spend", "0"),
        "actions": _actions(item.get("actions")),
        "action_values": _actions(item.get("action_values")),
    }


def _actions(entries: Any) -> list[dict[str, Any]]:
    """Every action type as Meta sent it, reduced to action_type and value."""
    return [
        {"action_type": e.get("action_type"), "value": e.get("value")}
        for e in entries or []
        if isinstance(e, dict)
    ]


def _account(grant: Grant) -> str:
    return numeric(grant.account_id.removeprefix("act_"), "meta")
