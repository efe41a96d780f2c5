"""Fake LinkedIn Marketing API, versioned REST (https://learn.microsoft.com/linkedin/marketing/).

Reproduces:
  * The /rest/* gateway checks: `LinkedIn-Version: YYYYMM[.RR]` (missing -> 400 VERSION_MISSING,
    inactive -> 426 NONEXISTENT_VERSION), `Authorization: Bearer` (401 EMPTY_ACCESS_TOKEN /
    INVALID_ACCESS_TOKEN / EXPIRED_ACCESS_TOKEN / REVOKED_ACCESS_TOKEN with serviceErrorCode
    65604 / 65600 / 65601 / 65602) and `X-Restli-Protocol-Version: 2.0.0`. Errors are
    {"status", "serviceErrorCode"?, "code", "message"}.
  * Rest.li 2.0 query syntax, parsed from the raw query string: `List(a,b)`, records
    `(key:value,...)`, percent-encoded leaves (`urn%3Ali%3AsponsoredCampaign%3A1`).
  * `GET /rest/adAnalytics?q=analytics&pivot=...` and `q=statistics&pivots=List(...)` with
    dateRange, timeGranularity DAILY|MONTHLY|YEARLY|ALL, campaigns / accounts facets, `fields`
    projection (default impressions,clicks), start/count paging. Counts are numbers, money is a
    decimal string in account currency ("costInLocalCurrency": "12.34").
  * `GET /rest/adAccounts/{id}`, `GET /rest/adAccounts?q=search`,
    `GET /rest/adAccounts/{id}/adCampaigns?q=search&search=(name:(values:List(..)),status:(...))`
    (start/count paging, or pageSize/pageToken with metadata.nextPageToken),
    `GET /rest/adAccounts/{id}/adCampaigns/{cid}`, `POST .../adCampaigns` (201, x-restli-id),
    `POST .../adCampaigns/{cid}` with `X-RestLi-Method: PARTIAL_UPDATE` and
    {"patch": {"$set": {...}, "$unset": [...]}} (204).
  * 429 throttling with Retry-After for injected failures.
  * OAuth 2.0 (www.linkedin.com/oauth/v2): `POST /oauth/v2/accessToken` (authorization_code
    with optional PKCE code_verifier, refresh_token; refresh tokens live 365 days and keep
    their value) and `GET /oauth/v2/authorization` (auto-consent redirect).

Controls: the shared ones of fakes/_ads.py.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from fakes._ads import (
    Account,
    Campaign,
    Failure,
    OAuthError,
    Provider,
    Store,
    StoreOptions,
    Totals,
    authorization_redirect,
    client_credentials,
    json_response,
    minor_unit_factor,
    new_app,
    store_of,
)
from fakes._server import run_cli

CAMPAIGN_URN = "urn:li:sponsoredCampaign:"
ACCOUNT_URN = "urn:li:sponsoredAccount:"
GROUP_URN = "urn:li:sponsoredCampaignGroup:"
MAX_FIELDS = 20
DEFAULT_COUNT = 10
STATUSES = frozenset(
    {"ACTIVE", "PAUSED", "ARCHIVED", "COMPLETED", "CANCELED", "DRAFT", "PENDING_DELETION", "REMOVED"}
)
TERMINAL = frozenset({"CANCELED", "REMOVED", "COMPLETED"})
CAMPAIGN_TYPES = frozenset({"TEXT_AD", "SPONSORED_UPDATES", "SPONSORED_INMAILS", "DYNAMIC"})
COST_TYPES = frozenset({"CPM", "CPC", "CPV"})
USD_RATES = {
    "USD": Decimal(1),
    "EUR": Decimal("1.08"),
    "GBP": Decimal("1.27"),
    "INR": Decimal("0.012"),
    "CAD": Decimal("0.74"),
    "AUD": Decimal("0.66"),
    "JPY": Decimal("0.0067"),
}

OPTIONS = web.AppKey("linkedin_options", dict)


class RestliError(ValueError):
    """A malformed request; answered 400 with LinkedIn's error shape."""

    def __init__(self, message: str, code: str = "ILLEGAL_ARGUMENT", status: int = 400) -> None:
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def li_error(
    status: int,
    message: str,
    code: str | None = None,
    service_code: int | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"status": status}
    if service_code is not None:
        body["serviceErrorCode"] = service_code
    if code is not None:
        body["code"] = code
    body["message"] = message
    return json_response(body, status=status, headers=headers)


def failure_response(request: web.Request, failure: Failure) -> web.Response:
    """Injected failures: 429 TOO_MANY_REQUESTS with Retry-After (seconds), or the status asked."""
    retry = {"Retry-After": str(int(failure.retry_after))}
    if failure.status == 429:
        limit = failure.options.get("limit_type", "APPLICATION")
        message = f"Resource level throttle {limit} DAY limit for calls to this resource is reached."
        return li_error(429, failure.options.get("message", message), "TOO_MANY_REQUESTS", 101, retry)
    codes = {
        500: "INTERNAL_SERVER_ERROR",
        502: "BAD_GATEWAY",
        503: "SERVICE_UNAVAILABLE",
        504: "GATEWAY_TIMEOUT",
    }
    message = failure.options.get("message", codes.get(failure.status, "Request failed"))
    return li_error(
        failure.status, message, codes.get(failure.status), headers=retry if failure.status == 503 else None
    )


# --- Rest.li 2.0 query syntax ----------------------------------------------------------------


def parse_restli(text: str) -> Any:
    """A Rest.li 2.0 URL value: `List(v,...)`, `(key:v,...)` or a percent-encoded leaf."""
    value, pos = _value(text, 0)
    if pos != len(text):
        raise RestliError(f"Unexpected character {text[pos]!r} at {pos} in {text!r}")
    return value


def _value(text: str, pos: int) -> tuple[Any, int]:
    if text.startswith("List(", pos):
        return _sequence(text, pos + 5, list_mode=True)
    if text.startswith("(", pos):
        return _sequence(text, pos + 1, list_mode=False)
    end = pos
    while end < len(text) and text[end] not in ",():":
        end += 1
    return unquote(text[pos:end]), end


def _sequence(text: str, pos: int, list_mode: bool) -> tuple[Any, int]:
    items: list[Any] = []
    record: dict[str, Any] = {}
    if text.startswith(")", pos):
        return (items if list_mode else record), pos + 1
    while True:
        if list_mode:
            item, pos = _value(text, pos)
            items.append(item)
        else:
            key, pos = _value(text, pos)
            if not text.startswith(":", pos):
                raise RestliError(f"Expected ':' after {key!r} in {text!r}")
            record[key], pos = _value(text, pos + 1)
        if text.startswith(",", pos):
            pos += 1
            continue
        if text.startswith(")", pos):
            return (items if list_mode else record), pos + 1
        raise RestliError(f"Unterminated {'List' if list_mode else 'record'} in {text!r}")


def raw_query(request: web.Request) -> dict[str, str]:
    """Query parameters with their values still percent-encoded (Rest.li decodes leaves)."""
    params: dict[str, str] = {}
    for part in request.rel_url.raw_query_string.split("&"):
        if part:
            name, _, value = part.partition("=")
            params[unquote(name)] = value
    return params


def plain(params: dict[str, str], name: str, default: str | None = None) -> str | None:
    return unquote(params[name]) if name in params else default


def structured(params: dict[str, str], name: str) -> Any:
    if name not in params:
        return None
    return parse_restli(params[name])


def urn_ids(values: Any, prefix: str, name: str) -> list[str]:
    if not isinstance(values, list):
        raise RestliError(f"Param {name} must be a List(...) of {prefix}<id> URNs")
    ids = []
    for value in values:
        if not isinstance(value, str) or not value.startswith(prefix) or not value[len(prefix) :].isdigit():
            raise RestliError(f"Invalid URN {value!r} in {name}: expected {prefix}<id>")
        ids.append(value[len(prefix) :])
    return ids


def paging_params(params: dict[str, str]) -> tuple[int, int | None]:
    try:
        start = int(plain(params, "start", "0") or 0)
        count = int(plain(params, "count")) if "count" in params else None  # type: ignore[arg-type]
    except ValueError as exc:
        raise RestliError("start and count must be integers") from exc
    if start < 0 or (count is not None and count < 0):
        raise RestliError("start and count must not be negative")
    return start, count


def paging(
    request: web.Request, params: dict[str, str], total: int, start: int, count: int | None
) -> dict[str, Any]:
    """Rest.li paging: {"start", "count", "links"}, with a relative next/prev href when paging."""
    shown = count if count is not None else DEFAULT_COUNT
    links = []
    if count is not None:
        for rel, offset in (("prev", start - count), ("next", start + count)):
            if (rel == "prev" and start > 0) or (rel == "next" and offset < total):
                query = {**params, "start": str(max(0, offset)), "count": str(count)}
                href = request.path + "?" + "&".join(f"{k}={v}" for k, v in query.items())
                links.append({"rel": rel, "type": "application/json", "href": href})
    return {"start": start, "count": shown, "links": links, "total": total}


# --- gateway checks --------------------------------------------------------------------------


def check_version(request: web.Request) -> web.Response | None:
    version = request.headers.get("LinkedIn-Version")
    if not version:
        return li_error(
            400,
            "A version must be present. Please specify a version by adding the LinkedIn-Version header.",
            "VERSION_MISSING",
        )
    if not re.fullmatch(r"\d{6}(\.\d{2})?", version):
        return li_error(
            400, f"Invalid version format {version}. Expected YYYYMM or YYYYMM.RR.", "VERSION_INVALID"
        )
    store = store_of(request)
    current = store.today().strftime("%Y%m")
    if version[:6] < request.app[OPTIONS]["min_version"] or version[:6] > current:
        return li_error(426, f"Requested version {version} is not active", "NONEXISTENT_VERSION")
    return None


def check_token(request: web.Request) -> web.Response | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    status = store_of(request).oauth.access_status(token)
    errors = {
        "missing": (65604, "EMPTY_ACCESS_TOKEN", "Empty oauth2 access token"),
        "invalid": (65600, "INVALID_ACCESS_TOKEN", "Invalid access token"),
        "expired": (65601, "EXPIRED_ACCESS_TOKEN", "The token used in the request has expired"),
        "revoked": (
            65602,
            "REVOKED_ACCESS_TOKEN",
            "The token used in the request has been revoked by the user",
        ),
    }
    if status == "ok":
        return None
    service_code, code, message = errors[status]
    return li_error(401, message, code, service_code)


def rest_route(handler: Callable[[web.Request, dict[str, str]], Any]) -> Callable[[web.Request], Any]:
    """Version, token and Rest.li protocol checks, then the handler with the raw query."""

    async def route(request: web.Request) -> web.StreamResponse:
        error = check_version(request) or check_token(request)
        if error is not None:
            return error
        if request.headers.get("X-Restli-Protocol-Version") != "2.0.0":
            return li_error(
                400,
                "This API requires Rest.li protocol 2.0.0: send X-Restli-Protocol-Version: 2.0.0",
                "ILLEGAL_ARGUMENT",
            )
        try:
            return await handler(request, raw_query(request))
        except RestliError as exc:
            return li_error(exc.status, exc.message, exc.code)

    return route


def ad_account(request: web.Request) -> Account:
    account = store_of(request).accounts.get(request.match_info["account_id"])
    if account is None:
        raise RestliError(f"Ad account {request.match_info['account_id']} not found", "NOT_FOUND", 404)
    return account


# --- adAnalytics -----------------------------------------------------------------------------


def money(amount: Decimal) -> str:
    """LinkedIn's decimal strings: "12.34", "50.0"."""
    text = str(amount.normalize()) if amount != amount.to_integral() else str(int(amount))
    return text if "." in text else text + ".0"


def _conversions(t: Totals) -> int:
    return round(t.conversions)


def _analytics_values() -> dict[str, Callable[[Totals, Account], Any]]:
    return {
        "impressions": lambda t, a: t.impressions,
        "clicks": lambda t, a: t.clicks,
        "landingPageClicks": lambda t, a: int(t.clicks * 0.9),
        "totalEngagements": lambda t, a: int(t.clicks * 1.4),
        "costInLocalCurrency": lambda t, a: money(t.cost),
        "costInUsd": lambda t, a: money(t.cost * USD_RATES.get(a.currency, Decimal(1))),
        "externalWebsiteConversions": lambda t, a: _conversions(t),
        "externalWebsitePostClickConversions": lambda t, a: round(_conversions(t) * 0.8),
        "externalWebsitePostViewConversions": lambda t, a: _conversions(t) - round(_conversions(t) * 0.8),
        "conversionValueInLocalCurrency": lambda t, a: money(t.conversion_value),
        "oneClickLeads": lambda t, a: 0,
        "approximateMemberReach": lambda t, a: int(t.impressions * 0.6),
    }


ANALYTICS_VALUES = _analytics_values()
ANALYTICS_FIELDS = frozenset({*ANALYTICS_VALUES, "dateRange", "pivotValues"})


def _date_range(params: dict[str, str], today: date) -> tuple[date, date]:
    value = structured(params, "dateRange")
    if not isinstance(value, dict) or "start" not in value:
        raise RestliError("Param dateRange is required: dateRange=(start:(year:Y,month:M,day:D),end:(...))")
    start = _ymd(value["start"])
    end = _ymd(value["end"]) if "end" in value else today
    if end < start:
        raise RestliError("dateRange end must not be before start")
    return start, end


def _ymd(value: Any) -> date:
    try:
        return date(int(value["year"]), int(value["month"]), int(value["day"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise RestliError(f"Invalid date {value!r}: expected (year:Y,month:M,day:D)") from exc


def _ymd_json(day: date) -> dict[str, int]:
    return {"year": day.year, "month": day.month, "day": day.day}


def _buckets(start: date, end: date, granularity: str) -> list[tuple[date, date]]:
    if granularity == "ALL":
        return [(start, end)]
    buckets = []
    current = start
    while current <= end:
        if granularity == "DAILY":
            stop = current
        elif granularity == "MONTHLY":
            stop = (current.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        else:
            stop = date(current.year, 12, 31)
        stop = min(stop, end)
        buckets.append((current, stop))
        current = stop + timedelta(days=1)
    return buckets


def _analytics_campaigns(store: Store, params: dict[str, str]) -> list[Campaign]:
    campaign_ids = (
        urn_ids(structured(params, "campaigns"), CAMPAIGN_URN, "campaigns") if "campaigns" in params else None
    )
    account_ids = (
        urn_ids(structured(params, "accounts"), ACCOUNT_URN, "accounts") if "accounts" in params else None
    )
    if campaign_ids is None and account_ids is None:
        raise RestliError("One of the facets campaigns or accounts is required")
    campaigns = [c for c in store.campaigns.values() if campaign_ids is None or c.id in campaign_ids]
    return [c for c in campaigns if account_ids is None or c.account_id in account_ids]


def _pivots(params: dict[str, str]) -> list[str]:
    finder = plain(params, "q")
    if finder == "analytics":
        pivots = [plain(params, "pivot") or ""]
    elif finder == "statistics":
        pivots = structured(params, "pivots") or []
        if not isinstance(pivots, list) or not 1 <= len(pivots) <= 3:
            raise RestliError("Param pivots must be a List of 1 to 3 pivots")
    else:
        raise RestliError(
            f"Unsupported finder q={finder}; use analytics or statistics", "QUERY_PARAM_NOT_ALLOWED"
        )
    for pivot in pivots:
        if pivot not in ("CAMPAIGN", "ACCOUNT"):
            raise RestliError(f"Pivot {pivot!r} is not supported by this fake (CAMPAIGN, ACCOUNT)")
    return pivots


def _projection(params: dict[str, str]) -> list[str]:
    fields = [f for f in (plain(params, "fields") or "impressions,clicks").split(",") if f]
    if len(fields) > MAX_FIELDS:
        raise RestliError(f"At most {MAX_FIELDS} fields may be requested")
    for name in fields:
        if name not in ANALYTICS_FIELDS:
            raise RestliError(f"Invalid projection field: {name}")
    return fields


def analytics_elements(store: Store, params: dict[str, str]) -> list[dict[str, Any]]:
    """One element per time bucket and pivot value with delivery, in date order."""
    pivots = _pivots(params)
    granularity = plain(params, "timeGranularity")
    if granularity not in ("DAILY", "MONTHLY", "YEARLY", "ALL"):
        raise RestliError("Param timeGranularity must be one of DAILY, MONTHLY, YEARLY, ALL")
    start, end = _date_range(params, store.today())
    fields = _projection(params)
    campaigns = sorted(_analytics_campaigns(store, params), key=lambda c: int(c.id))
    groups: dict[tuple[str, ...], list[Campaign]] = {}
    for campaign in campaigns:
        key = tuple(
            ACCOUNT_URN + campaign.account_id if p == "ACCOUNT" else CAMPAIGN_URN + campaign.id
            for p in pivots
        )
        groups.setdefault(key, []).append(campaign)
    elements = []
    for first, last in _buckets(start, end, granularity):
        days = [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]
        for key, members in groups.items():
            totals = Totals()
            for campaign in members:
                by_date = store.metrics.get(campaign.id, {})
                for day in days:
                    if day in by_date:
                        totals.add(by_date[day])
            if totals.empty:
                continue
            account = store.accounts[members[0].account_id]
            element: dict[str, Any] = {}
            for name in fields:
                if name == "dateRange":
                    element[name] = {"start": _ymd_json(first), "end": _ymd_json(last)}
                elif name == "pivotValues":
                    element[name] = list(key)
                else:
                    element[name] = ANALYTICS_VALUES[name](totals, account)
            elements.append(element)
    return elements


async def ad_analytics(request: web.Request, params: dict[str, str]) -> web.Response:
    elements = analytics_elements(store_of(request), params)
    start, count = paging_params(params)
    page = elements[start : start + count] if count is not None else elements[start:]
    body_paging = paging(request, params, len(elements), start, count)
    body_paging.pop("total")
    return json_response({"elements": page, "paging": body_paging})


# --- ad accounts and campaigns ---------------------------------------------------------------


def budget_json(amount: Decimal, account: Account) -> dict[str, str]:
    places = Decimal(1) / minor_unit_factor(account.currency)
    return {"amount": str(amount.quantize(places)), "currencyCode": account.currency}


def account_json(account: Account) -> dict[str, Any]:
    return {
        "id": int(account.id),
        "name": account.name,
        "currency": account.currency,
        "status": account.status if account.status in ("ACTIVE", "CANCELED", "DRAFT") else "ACTIVE",
        "type": account.extra.get("type", "BUSINESS"),
        "reference": account.extra.get("reference", f"urn:li:organization:{account.id}"),
        "test": bool(account.extra.get("test", False)),
        "servingStatuses": ["RUNNABLE"],
    }


def campaign_json(campaign: Campaign, account: Account) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": int(campaign.id),
        "account": ACCOUNT_URN + account.id,
        "campaignGroup": f"{GROUP_URN}{account.id}0",
        "name": campaign.name,
        "status": campaign.status,
        "type": "SPONSORED_UPDATES",
        "costType": "CPM",
        "objectiveType": campaign.objective or "WEBSITE_VISIT",
        "locale": {"country": "US", "language": "en"},
        "offsiteDeliveryEnabled": False,
        "test": False,
        "servingStatuses": ["RUNNABLE"] if campaign.status == "ACTIVE" else ["STOPPED"],
        "runSchedule": {"start": int(campaign.created * 1000)},
        "changeAuditStamps": {
            "created": {"time": int(campaign.created * 1000)},
            "lastModified": {"time": int(campaign.updated * 1000)},
        },
        "version": {"versionTag": str(campaign.extra.get("version_tag", 1))},
    }
    body.update({k: v for k, v in campaign.extra.items() if k != "version_tag"})
    if campaign.daily_budget is not None:
        body["dailyBudget"] = budget_json(campaign.daily_budget, account)
    if campaign.lifetime_budget is not None:
        body["totalBudget"] = budget_json(campaign.lifetime_budget, account)
    return body


async def get_account(request: web.Request, params: dict[str, str]) -> web.Response:
    return json_response(account_json(ad_account(request)))


async def search_accounts(request: web.Request, params: dict[str, str]) -> web.Response:
    if plain(params, "q") != "search":
        raise RestliError("Unsupported finder; use q=search", "QUERY_PARAM_NOT_ALLOWED")
    criteria = structured(params, "search") or {}
    statuses = _values(criteria, "status")
    accounts = [account_json(a) for a in store_of(request).accounts.values()]
    accounts = [a for a in accounts if statuses is None or a["status"] in statuses]
    start, count = paging_params(params)
    count = DEFAULT_COUNT if count is None else count
    shown = accounts[start : start + count]
    return json_response({"elements": shown, "paging": paging(request, params, len(accounts), start, count)})


def _values(criteria: Any, key: str) -> list[str] | None:
    if not isinstance(criteria, dict):
        raise RestliError("Param search must be a record: search=(field:(values:List(...)),...)")
    if key not in criteria:
        return None
    entry = criteria[key]
    if not isinstance(entry, dict) or not isinstance(entry.get("values"), list):
        raise RestliError(f"search.{key} must be ({key}:(values:List(...)))")
    return entry["values"]


SEARCH_KEYS = frozenset({"status", "name", "id", "campaignGroup", "type", "test"})


def search_campaigns_in(store: Store, account: Account, criteria: Any) -> list[Campaign]:
    """The adCampaigns search finder: every criterion must hold (exact name match)."""
    if not isinstance(criteria, dict):
        raise RestliError("Param search must be a record: search=(field:(values:List(...)),...)")
    unknown = set(criteria) - SEARCH_KEYS
    if unknown:
        raise RestliError(f"Unknown search criteria: {', '.join(sorted(unknown))}")
    statuses, names = _values(criteria, "status"), _values(criteria, "name")
    ids = _values(criteria, "id")
    id_set = set(urn_ids(ids, CAMPAIGN_URN, "search.id")) if ids is not None else None
    test = criteria.get("test")
    if test is not None and str(test) == "true":
        return []
    return [
        c
        for c in store.campaigns_of(account.id)
        if (statuses is None or c.status in statuses)
        and (names is None or c.name in names)
        and (id_set is None or c.id in id_set)
    ]


async def search_campaigns(request: web.Request, params: dict[str, str]) -> web.Response:
    account = ad_account(request)
    store = store_of(request)
    if plain(params, "q") != "search":
        raise RestliError("Unsupported finder; use q=search", "QUERY_PARAM_NOT_ALLOWED")
    found = search_campaigns_in(store, account, structured(params, "search") or {})
    if plain(params, "sortOrder", "ASCENDING") == "DESCENDING":
        found.reverse()
    elements = [campaign_json(c, account) for c in found]
    if "pageSize" in params:
        return json_response(_token_page(params, elements))
    start, count = paging_params(params)
    count = DEFAULT_COUNT if count is None else count
    shown = elements[start : start + count]
    return json_response({"elements": shown, "paging": paging(request, params, len(elements), start, count)})


def _token_page(params: dict[str, str], elements: list[dict[str, Any]]) -> dict[str, Any]:
    """Cursor paging of the newer versions: pageSize + pageToken, metadata.nextPageToken."""
    size = int(plain(params, "pageSize") or DEFAULT_COUNT)
    offset = 0
    if "pageToken" in params:
        try:
            offset = int(base64.urlsafe_b64decode(plain(params, "pageToken") or "").decode())
        except ValueError as exc:
            raise RestliError("Invalid pageToken") from exc
    body: dict[str, Any] = {"elements": elements[offset : offset + size], "metadata": {}}
    if offset + size < len(elements):
        body["metadata"]["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
    return body


def _campaign_in(request: web.Request, account: Account) -> Campaign:
    campaign = store_of(request).campaigns.get(request.match_info["campaign_id"])
    if campaign is None or campaign.account_id != account.id:
        raise RestliError(f"Campaign {request.match_info['campaign_id']} not found", "NOT_FOUND", 404)
    return campaign


async def get_campaign(request: web.Request, params: dict[str, str]) -> web.Response:
    account = ad_account(request)
    return json_response(campaign_json(_campaign_in(request, account), account))


def validation_failed(errors: list[tuple[str, str, str]]) -> web.Response:
    """LinkedIn's validation error body with errorDetails.inputErrors."""
    body = {
        "errorDetailType": "com.linkedin.common.error.BadRequest",
        "message": "Multiple errors occurred during the input validation. Please refer to errorDetails for more "
        "information.",
        "errorDetails": {
            "inputErrors": [
                {"description": description, "input": {"inputPath": {"fieldPath": path}}, "code": code}
                for path, code, description in errors
            ]
        },
        "status": 400,
    }
    return json_response(body, status=400)


def _budget(value: Any, account: Account, path: str, errors: list[tuple[str, str, str]]) -> Decimal | None:
    if not isinstance(value, dict) or "amount" not in value:
        errors.append((path, "INVALID_VALUE", 'A budget is {"amount": "10.00", "currencyCode": "USD"}'))
        return None
    if value.get("currencyCode") != account.currency:
        errors.append(
            (
                f"{path}/currencyCode",
                "INVALID_VALUE",
                f"Currency must be the account currency {account.currency}",
            )
        )
        return None
    try:
        amount = Decimal(str(value["amount"]))
    except ArithmeticError:
        amount = Decimal(-1)
    if not amount.is_finite() or amount <= 0:
        errors.append((f"{path}/amount", "FIELD_VALUE_TOO_LOW", "Budget amount must be positive"))
        return None
    return amount


def _apply_fields(
    campaign: Campaign, account: Account, fields: dict[str, Any], errors: list[tuple[str, str, str]]
) -> None:
    for key, value in fields.items():
        if key == "name":
            if not isinstance(value, str) or not value.strip():
                errors.append(("name", "FIELD_VALUE_REQUIRED", "Field Value is required"))
            else:
                campaign.name = value
        elif key == "status":
            if value not in STATUSES:
                errors.append(("status", "INVALID_VALUE", f"Invalid status {value}"))
            else:
                campaign.status = value
        elif key == "dailyBudget":
            campaign.daily_budget = _budget(value, account, "dailyBudget", errors)
        elif key == "totalBudget":
            campaign.lifetime_budget = _budget(value, account, "totalBudget", errors)
        elif key == "objectiveType":
            campaign.objective = str(value)
        elif key == "type" and value not in CAMPAIGN_TYPES:
            errors.append(("type", "INVALID_VALUE", f"Invalid campaign type {value}"))
        elif key == "costType" and value not in COST_TYPES:
            errors.append(("costType", "INVALID_VALUE", f"Invalid cost type {value}"))
        elif key == "account" and value != ACCOUNT_URN + account.id:
            errors.append(("account", "INVALID_VALUE", "account must match the ad account in the path"))
        elif key not in ("id", "account", "changeAuditStamps", "version", "servingStatuses"):
            campaign.extra[key] = value


async def create_campaign(request: web.Request, params: dict[str, str]) -> web.Response:
    """POST adAccounts/{id}/adCampaigns -> 201, empty body, x-restli-id: <id>."""
    account = ad_account(request)
    store = store_of(request)
    body = await _json_body(request)
    errors = [
        (k, "FIELD_VALUE_REQUIRED", "Field Value is required")
        for k in ("name", "type", "costType")
        if k not in body
    ]
    status = body.get("status", "DRAFT")
    if status not in ("ACTIVE", "PAUSED", "DRAFT"):
        errors.append(("status", "INVALID_VALUE", "A new campaign is ACTIVE, PAUSED or DRAFT"))
    now = store.now()
    campaign = Campaign(store.next_id(), account.id, "", "DRAFT", created=now, updated=now)
    _apply_fields(campaign, account, body, errors)
    if errors:
        return validation_failed(errors)
    store.add_campaign(campaign)
    headers = {
        "x-restli-id": campaign.id,
        "x-linkedin-id": campaign.id,
        "Location": f"/adAccounts/{account.id}/adCampaigns/{campaign.id}",
    }
    return web.Response(status=201, headers=headers)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RestliError("Request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise RestliError("Request body must be a JSON object")
    return body


async def update_campaign(request: web.Request, params: dict[str, str]) -> web.Response:
    """POST adAccounts/{id}/adCampaigns/{cid} with X-RestLi-Method: PARTIAL_UPDATE and
    {"patch": {"$set": {...}, "$unset": [...]}} -> 204."""
    if request.headers.get("X-RestLi-Method", "").upper() != "PARTIAL_UPDATE":
        raise RestliError(
            "POST on an entity needs X-RestLi-Method: PARTIAL_UPDATE", "METHOD_NOT_ALLOWED", 405
        )
    account = ad_account(request)
    campaign = _campaign_in(request, account)
    patch = (await _json_body(request)).get("patch")
    if not isinstance(patch, dict) or not ({"$set", "$unset"} & patch.keys()):
        raise RestliError('Body must be {"patch": {"$set": {...}}}')
    if campaign.status in TERMINAL:
        raise RestliError(
            f"Campaign {campaign.id} is {campaign.status} and cannot be updated", "INVALID_STATUS"
        )
    updated = replace(campaign, extra=dict(campaign.extra))
    errors: list[tuple[str, str, str]] = []
    _apply_fields(updated, account, patch.get("$set", {}), errors)
    for key in patch.get("$unset", []):
        if key == "dailyBudget":
            updated.daily_budget = None
        elif key == "totalBudget":
            updated.lifetime_budget = None
        else:
            updated.extra.pop(key, None)
    if errors:
        return validation_failed(errors)
    updated.updated = store_of(request).now()
    updated.extra["version_tag"] = int(campaign.extra.get("version_tag", 1)) + 1
    store_of(request).campaigns[campaign.id] = updated
    return web.Response(status=204)


# --- OAuth -----------------------------------------------------------------------------------

GRANT_ERROR = "The provided authorization grant or refresh token is invalid, expired or revoked."
CODE_ERROR = (
    "Unable to retrieve access token: appid/redirect uri/code verifier does not match authorization code. Or "
    "authorization code expired. Or external member binding exists"
)
TOKEN_ERRORS: dict[str, tuple[int, str, str]] = {
    "unknown_client": (401, "invalid_client", "Client authentication failed"),
    "bad_secret": (401, "invalid_client", "Client authentication failed"),
    **dict.fromkeys(
        ("invalid_refresh", "revoked_refresh", "expired_refresh", "injected"),
        (400, "invalid_grant", GRANT_ERROR),
    ),
    **dict.fromkeys(
        (
            "unknown_code",
            "used_code",
            "expired_code",
            "redirect_mismatch",
            "missing_verifier",
            "bad_verifier",
        ),
        (400, "invalid_grant", CODE_ERROR),
    ),
}


def _oauth_error(status: int, error: str, description: str) -> web.Response:
    return json_response({"error": error, "error_description": description}, status=status)


async def access_token(request: web.Request) -> web.Response:
    """POST /oauth/v2/accessToken (form): authorization_code and refresh_token grants."""
    form = dict(await request.post())
    store = store_of(request)
    grant = form.get("grant_type")
    needed = {"authorization_code": ("code", "redirect_uri"), "refresh_token": ("refresh_token",)}
    if grant not in needed:
        return _oauth_error(
            400,
            "invalid_request" if not grant else "unsupported_grant_type",
            f'A required parameter "grant_type" is missing or unsupported: {grant}',
        )
    for name in needed[grant]:
        if not form.get(name):
            return _oauth_error(400, "invalid_request", f'A required parameter "{name}" is missing')
    client_id, secret = client_credentials(request, form)
    try:
        store.oauth.check_client(client_id, secret if secret is not None else "")
        assert client_id is not None
        if grant == "refresh_token":
            refresh = store.oauth.use_refresh(form["refresh_token"], client_id)
            access, _ = store.oauth.issue(client_id, "refresh_token", refresh.scope, refresh=refresh)
        else:
            code = store.oauth.redeem(
                form["code"], client_id, form["redirect_uri"], form.get("code_verifier")
            )
            access, refresh = store.oauth.issue(client_id, "authorization_code", code.scope, new_refresh=True)
    except OAuthError as exc:
        return _oauth_error(*TOKEN_ERRORS[exc.reason])
    assert refresh is not None
    refresh_left = round(refresh.expires_at - store.now()) if refresh.expires_at else 31_536_000
    return json_response(
        {
            "access_token": access.value,
            "expires_in": int(access.expires_at - access.issued_at) if access.expires_at else 5_184_000,
            "refresh_token": refresh.value,
            "refresh_token_expires_in": refresh_left,
            "scope": access.scope or refresh.scope or "r_ads,rw_ads,r_ads_reporting",
        }
    )


async def authorization(request: web.Request) -> web.StreamResponse:
    """www.linkedin.com/oauth/v2/authorization: consents at once, redirects with code+state."""
    deny = {"error": "user_cancelled_authorize", "error_description": "The user cancelled the authorization"}
    return authorization_redirect(store_of(request), dict(request.query), deny)


# --- app -------------------------------------------------------------------------------------

PROVIDER = Provider(
    name="linkedin",
    statuses={**{s: s for s in STATUSES}, "ENABLED": "ACTIVE", "DELETED": "REMOVED"},
    first_id=300_000_001,
    default_account_id="500000001",
    token_prefixes=("AQVfake", "AQXfake"),
    failure_status=429,
    failure_response=failure_response,
)


def make_app(
    *,
    client_id: str = "fake-linkedin-client-id",
    client_secret: str = "fake-linkedin-client-secret",
    access_tokens: tuple[str, ...] = ("fake-linkedin-access-token",),
    refresh_tokens: tuple[str, ...] = ("fake-linkedin-refresh-token",),
    token_ttl: int = 5_184_000,
    refresh_ttl: int = 31_536_000,
    min_version: str = "202301",
    seed: dict[str, Any] | None = None,
) -> web.Application:
    """A fake LinkedIn Marketing API. access_tokens/refresh_tokens are pre-issued and never
    expire; minted access tokens live token_ttl seconds (60 days), refresh tokens refresh_ttl.
    LinkedIn-Version must lie between min_version and the fake clock's current month."""
    options = StoreOptions(
        clients={client_id: client_secret},
        access_ttl=token_ttl,
        refresh_ttl=refresh_ttl,
        access_tokens=tuple(access_tokens),
        refresh_tokens=tuple(refresh_tokens),
        seed=seed,
    )
    app = new_app(PROVIDER, options)
    app[OPTIONS] = {"min_version": min_version}
    accounts = "/rest/adAccounts/{account_id:\\d+}"
    app.router.add_get("/rest/adAnalytics", rest_route(ad_analytics))
    app.router.add_get("/rest/adAccounts", rest_route(search_accounts))
    app.router.add_get(accounts, rest_route(get_account))
    app.router.add_get(accounts + "/adCampaigns", rest_route(search_campaigns))
    app.router.add_post(accounts + "/adCampaigns", rest_route(create_campaign))
    app.router.add_get(accounts + "/adCampaigns/{campaign_id:\\d+}", rest_route(get_campaign))
    app.router.add_post(accounts + "/adCampaigns/{campaign_id:\\d+}", rest_route(update_campaign))
    app.router.add_post("/oauth/v2/accessToken", access_token)
    app.router.add_get("/oauth/v2/authorization", authorization)
    return app


def urn_list(prefix: str, ids: list[str]) -> str:
    """Rest.li 2.0 encoding of a URN list, for clients and tests: List(urn%3Ali%3A...)."""
    return "List(" + ",".join(quote(prefix + str(i), safe="") for i in ids) + ")"


def main() -> None:
    run_cli("linkedin", make_app, 8094)


if __name__ == "__main__":
    main()
