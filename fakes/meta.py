"""Fake Meta Marketing API (Graph API, https://developers.facebook.com/docs/marketing-apis).

Reproduces, for any `vNN.N` version segment:
  * `GET /vN/act_{id}/insights`: level account|campaign, time_increment (1, N days, monthly,
    all_days), time_range / date_preset, fields, filtering, limit + cursor paging (`after` /
    `before`, `paging.next` is a full URL, absent on the last page). Numbers are strings
    ("123", spend "12.34" in account currency); `actions` / `action_values` list several
    action types for the same purchase (offsite_conversion.fb_pixel_purchase, omni_purchase,
    purchase) besides link_click & co; rows without delivery are left out.
  * `GET|POST /vN/act_{id}/campaigns` (fields, filtering, effective_status; create with name,
    objective, status, special_ad_categories, daily_budget|lifetime_budget in minor units),
    `GET|POST|DELETE /vN/{campaign_id}`, `GET /vN/act_{id}`, `GET /vN/me/adaccounts`.
  * Access token as `access_token` (query or form) or `Authorization: Bearer|OAuth`; Graph
    errors {"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}; 190 for bad,
    expired (subcode 463) or revoked (460) tokens: HTTP 400 when the token came as a parameter,
    401 (with WWW-Authenticate) when it came in the Authorization header.
  * Usage headers on every Graph response: `X-App-Usage`, and on ad-account calls
    `X-Business-Use-Case-Usage` ({business_id: [{type, call_count, total_cputime, total_time,
    estimated_time_to_regain_access}]}) and `X-Ad-Account-Usage`. Injected rate limits answer
    code 17 / 613 / 80000 / 80004 / 4 with usage at 100% and the minutes to regain access.
  * OAuth: `GET /vN/oauth/access_token` (code exchange with optional PKCE code_verifier,
    grant_type=fb_exchange_token for long-lived tokens, client_credentials), and
    `GET /vN/dialog/oauth` (auto-consent redirect with code and state).

Controls: the shared ones of fakes/_ads.py plus `POST /_fake/usage {"call_count", "total_time",
"total_cputime", "acc_id_util_pct"}` (baseline usage percentages reported in the headers).
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

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
    decimal,
    json_response,
    minor_unit_factor,
    new_app,
    paged_cursor,
    parse_cursor,
    parse_date,
    store_of,
)
from fakes._server import run_cli

VERSION = r"/{version:v\d+\.\d+}"
DEFAULT_LIMIT = 25
MAX_LIMIT = 5000
PURCHASE_TYPES = ("offsite_conversion.fb_pixel_purchase", "omni_purchase", "purchase")
OBJECTIVES = frozenset(
    {
        "OUTCOME_APP_PROMOTION",
        "OUTCOME_AWARENESS",
        "OUTCOME_ENGAGEMENT",
        "OUTCOME_LEADS",
        "OUTCOME_SALES",
        "OUTCOME_TRAFFIC",
    }
)
SPECIAL_AD_CATEGORIES = frozenset(
    {
        "NONE",
        "EMPLOYMENT",
        "HOUSING",
        "CREDIT",
        "ISSUES_ELECTIONS_POLITICS",
        "ONLINE_GAMBLING_AND_GAMING",
        "FINANCIAL_PRODUCTS_SERVICES",
    }
)
STATUSES = frozenset({"ACTIVE", "PAUSED", "DELETED", "ARCHIVED"})
RATE_LIMITS: dict[int, tuple[str, int | None]] = {
    4: ("Application request limit reached", None),
    17: ("User request limit reached", 2446079),
    32: ("Page request limit reached", None),
    613: ("Calls to this api have exceeded the rate limit.", 1487742),
    80000: (
        "There have been too many calls from this ad-account. Wait a bit and try again. For more info, please "
        "refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-insights.",
        2446079,
    ),
    80004: (
        "There have been too many calls to this ad-account. Wait a bit and try again. For more info, please "
        "refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.",
        2446079,
    ),
}
UNSUPPORTED = (
    "Unsupported {verb} request. Object with ID '{id}' does not exist, cannot be loaded due to missing "
    "permissions, or does not support this operation. Please read the Graph API documentation at "
    "https://developers.facebook.com/docs/graph-api"
)

OPTIONS = web.AppKey("meta_options", dict)


class GraphError(Exception):
    """A Graph API error; rendered by `graph_error`."""

    def __init__(self, message: str, code: int = 100, status: int = 400, **extra: Any) -> None:
        super().__init__(message)
        self.message, self.code, self.status, self.extra = message, code, status, extra


# --- responses -------------------------------------------------------------------------------


def graph_error(
    message: str,
    code: int,
    *,
    status: int = 400,
    subcode: int | None = None,
    type_: str = "OAuthException",
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    error: dict[str, Any] = {"message": message, "type": type_, "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(15)
    return json_response({"error": error}, status=status, headers=headers)


def from_exception(exc: GraphError) -> web.Response:
    extra = dict(exc.extra)
    subcode = extra.pop("subcode", None)
    type_ = extra.pop("type_", "OAuthException")
    headers = extra.pop("headers", None)
    return graph_error(
        exc.message, exc.code, status=exc.status, subcode=subcode, type_=type_, headers=headers, **extra
    )


def money(amount: Decimal) -> str:
    """Spend as Graph reports it: a decimal string in account currency."""
    return str(amount.quantize(Decimal("0.01")))


def number(value: float) -> str:
    """Counts and ratios as Graph strings: "3", "1.234567"."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def graph_time(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S%z")


# --- usage headers ---------------------------------------------------------------------------


def _business_of(request: web.Request) -> tuple[str | None, Account | None]:
    store = store_of(request)
    account_id = request.match_info.get("account_id")
    if account_id is None and request.match_info.get("object_id") in store.campaigns:
        account_id = store.campaigns[request.match_info["object_id"]].account_id
    account = store.accounts.get(account_id or "")
    if account is None:
        return None, None
    return account.business_id or account.id, account


def usage_headers(
    request: web.Request, *, throttled_minutes: int | None = None, code: int | None = None
) -> dict[str, str]:
    """X-App-Usage always; X-Business-Use-Case-Usage and X-Ad-Account-Usage for ad-account calls.
    Percentages are the /_fake/usage baseline plus usage_per_call for every call so far."""
    store = store_of(request)
    baseline = store.extra.setdefault("usage", {})
    calls = sum(store.requests.values())
    grown = min(100.0, calls * request.app[OPTIONS]["usage_per_call"])

    def pct(key: str) -> int:
        return int(min(100, baseline.get(key, 0) + grown))

    throttled = throttled_minutes is not None
    app_full = throttled and code == 4
    headers = {
        "X-App-Usage": json.dumps(
            {
                "call_count": 100 if app_full else pct("call_count"),
                "total_cputime": pct("total_cputime"),
                "total_time": pct("total_time"),
            }
        )
    }
    business, account = _business_of(request)
    if business is None or account is None:
        return headers
    kind = "ads_insights" if request.path.endswith("/insights") else "ads_management"
    usage = {
        "type": kind,
        "call_count": 100 if throttled and not app_full else pct("call_count"),
        "total_cputime": pct("total_cputime"),
        "total_time": 100 if throttled and not app_full else pct("total_time"),
        "estimated_time_to_regain_access": throttled_minutes or 0,
        "ads_api_access_tier": "standard_access",
    }
    headers["X-Business-Use-Case-Usage"] = json.dumps({business: [usage]})
    headers["X-Ad-Account-Usage"] = json.dumps(
        {
            "acc_id_util_pct": 100 if throttled else pct("acc_id_util_pct"),
            "reset_time_duration": (throttled_minutes or 0) * 60,
            "ads_api_access_tier": "standard_access",
        }
    )
    return headers


@web.middleware
async def usage_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    response = await handler(request)
    if request.path.startswith("/_fake/") or "version" not in request.match_info:
        return response
    for name, value in usage_headers(request).items():
        response.headers.setdefault(name, value)
    return response


def failure_response(request: web.Request, failure: Failure) -> web.Response:
    """Injected failures: rate limits (codes 4/17/32/613/80000/80004; 17 unless "code" says
    otherwise) with usage at 100% and estimated_time_to_regain_access in minutes, or a
    transient code 2 / an explicit code for other statuses."""
    code = failure.options.get("code")
    if code is None:
        code = 17 if failure.status in (400, 403, 429) else 2
    code = int(code)
    if code in RATE_LIMITS:
        message, subcode = RATE_LIMITS[code]
        minutes = int(
            failure.options.get("estimated_time_to_regain_access", math.ceil(failure.retry_after / 60))
        )
        headers = usage_headers(request, throttled_minutes=minutes, code=code)
        return graph_error(
            failure.options.get("message", message),
            code,
            status=failure.status,
            subcode=failure.options.get("error_subcode", subcode),
            headers=headers,
            is_transient=True,
            error_user_title="Ad Account Has Too Many API Calls",
            error_user_msg="There have been too many calls from this ad-account. Please wait a bit and try again.",
        )
    messages = {
        1: "An unknown error occurred",
        2: "An unexpected error has occurred. Please retry your request later.",
    }
    message = failure.options.get("message", messages.get(code, "An unexpected error has occurred."))
    return graph_error(
        message,
        code,
        status=failure.status,
        subcode=failure.options.get("error_subcode"),
        is_transient=code in (1, 2),
    )


# --- parameters and auth ---------------------------------------------------------------------


async def graph_params(request: web.Request) -> dict[str, Any]:
    """Query parameters merged with a form or JSON body (Graph accepts all three)."""
    params: dict[str, Any] = dict(request.query)
    if request.method in ("POST", "DELETE") and request.can_read_body:
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except json.JSONDecodeError as exc:
                raise GraphError("(#100) Invalid JSON in request body") from exc
            if isinstance(body, dict):
                params.update(body)
        else:
            params.update(dict(await request.post()))
    return params


def json_param(params: dict[str, Any], name: str, default: Any = None) -> Any:
    """A JSON-valued parameter (filtering, time_range, special_ad_categories, ...)."""
    value = params.get(name)
    if value is None or value == "":
        return default
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise GraphError(f"(#100) param {name} must be JSON") from exc


def authenticate(request: web.Request, params: dict[str, Any]) -> None:
    """Raises the Graph error for a missing, malformed, expired or revoked access token."""
    store = store_of(request)
    header = request.headers.get("Authorization", "")
    scheme, _, from_header = header.partition(" ")
    token = params.get("access_token") or (
        from_header.strip() if scheme.lower() in ("bearer", "oauth") else None
    )
    if not token:
        raise GraphError("An access token is required to request this resource.", 104)
    status = 401 if not params.get("access_token") else 400
    state = store.oauth.access_status(token)
    if state == "ok":
        return
    if state == "invalid":
        message, subcode = "Invalid OAuth access token - Cannot parse access token", None
    elif state == "expired":
        expired = store.oauth.access[token].expires_at or 0
        message = (
            f"Error validating access token: Session has expired on {graph_time(expired)}. "
            f"The current time is {graph_time(store.now())}."
        )
        subcode = 463
    else:
        message = (
            "Error validating access token: The session has been invalidated because the user changed their "
            "password or Facebook has changed the session for security reasons."
        )
        subcode = 460
    headers = {"WWW-Authenticate": f'OAuth "Facebook Platform" "invalid_token" "{message}"'}
    raise GraphError(message, 190, status=status, subcode=subcode, headers=headers)


def graph_route(handler: Callable[[web.Request, dict[str, Any]], Any]) -> Callable[[web.Request], Any]:
    """Authenticates, parses parameters and turns GraphError into Graph's error body."""

    async def route(request: web.Request) -> web.Response:
        try:
            params = await graph_params(request)
            authenticate(request, params)
            return await handler(request, params)
        except GraphError as exc:
            return from_exception(exc)

    return route


def ad_account(request: web.Request) -> Account:
    store = store_of(request)
    account_id = request.match_info["account_id"]
    account = store.accounts.get(account_id)
    if account is None:
        verb = "post" if request.method == "POST" else "get"
        raise GraphError(
            UNSUPPORTED.format(verb=verb, id=f"act_{account_id}"),
            100,
            subcode=33,
            type_="GraphMethodException",
        )
    return account


def fields_param(
    params: dict[str, Any], default: str, allowed: set[str] | frozenset[str], node: str
) -> list[str]:
    raw = params.get("fields") or default
    fields = [f.strip() for f in str(raw).split(",") if f.strip()]
    for name in fields:
        if name not in allowed:
            raise GraphError(f"(#100) Tried accessing nonexisting field ({name}) on node type ({node})")
    return fields


def limit_param(params: dict[str, Any]) -> int:
    try:
        limit = int(params.get("limit", DEFAULT_LIMIT))
    except ValueError as exc:
        raise GraphError("(#100) Param limit must be a number") from exc
    return max(1, min(limit, MAX_LIMIT))


# --- paging ----------------------------------------------------------------------------------


def page(request: web.Request, params: dict[str, Any], items: list[dict[str, Any]]) -> dict[str, Any]:
    """Cursor paging: cursors name the first and last item of the page; `after=<after>` gives
    the items after it; `next` (a full URL) only while more remain, `previous` after page one."""
    limit = limit_param(params)
    start = 0
    if params.get("after"):
        index = parse_cursor(str(params["after"]))
        if index is None:
            raise GraphError("(#100) The after cursor is invalid")
        start = index + 1
    elif params.get("before"):
        index = parse_cursor(str(params["before"]))
        if index is None:
            raise GraphError("(#100) The before cursor is invalid")
        start = max(0, index - limit)
    chunk = items[start : start + limit]
    body: dict[str, Any] = {"data": chunk}
    if not chunk:
        return body
    cursors = {"before": paged_cursor(start), "after": paged_cursor(start + len(chunk) - 1)}
    body["paging"] = {"cursors": cursors}
    url = request.url.without_query_params("after", "before")
    if start + len(chunk) < len(items):
        body["paging"]["next"] = str(url.update_query(after=cursors["after"]))
    if start > 0:
        body["paging"]["previous"] = str(url.update_query(before=cursors["before"]))
    return body


# --- insights --------------------------------------------------------------------------------

DATE_PRESETS: dict[str, Callable[[date], tuple[date, date]]] = {
    "today": lambda t: (t, t),
    "yesterday": lambda t: (t - timedelta(days=1), t - timedelta(days=1)),
    "last_3d": lambda t: (t - timedelta(days=3), t - timedelta(days=1)),
    "last_7d": lambda t: (t - timedelta(days=7), t - timedelta(days=1)),
    "last_14d": lambda t: (t - timedelta(days=14), t - timedelta(days=1)),
    "last_28d": lambda t: (t - timedelta(days=28), t - timedelta(days=1)),
    "last_30d": lambda t: (t - timedelta(days=30), t - timedelta(days=1)),
    "last_90d": lambda t: (t - timedelta(days=90), t - timedelta(days=1)),
    "this_month": lambda t: (t.replace(day=1), t),
    "last_month": lambda t: (
        (t.replace(day=1) - timedelta(days=1)).replace(day=1),
        t.replace(day=1) - timedelta(days=1),
    ),
    "maximum": lambda t: (date(2015, 1, 1), t),
}


def _actions(
    campaigns: list[Campaign], account: Account, totals: Totals, values: bool
) -> list[dict[str, str]] | None:
    """Several action types for the same conversions (as Meta reports one purchase under
    pixel, omni and generic types), plus click/engagement actions for the `actions` field."""
    types = account.extra.get("conversion_action_types") or PURCHASE_TYPES
    if len(campaigns) == 1:
        types = campaigns[0].extra.get("conversion_action_types") or types
    entries: list[dict[str, str]] = []
    if not values and totals.clicks:
        for action in ("link_click", "landing_page_view", "page_engagement", "post_engagement"):
            count = totals.clicks if action != "landing_page_view" else int(totals.clicks * 0.85)
            if count:
                entries.append({"action_type": action, "value": str(count)})
    if totals.conversions:
        amount = money(totals.conversion_value) if values else number(totals.conversions)
        if not values or totals.conversion_value:
            entries.extend({"action_type": t, "value": amount} for t in types)
    return entries or None


def _reach(totals: Totals) -> int:
    return max(1, round(totals.impressions / 1.25)) if totals.impressions else 0


def _insight_values() -> dict[str, Callable[[Account, list[Campaign], Totals], Any]]:
    def ratio(n: float, d: float, scale: float = 1.0) -> str | None:
        return number(round(n * scale / d, 6)) if d else None

    return {
        "account_id": lambda a, c, t: a.id,
        "account_name": lambda a, c, t: a.name,
        "account_currency": lambda a, c, t: a.currency,
        "campaign_id": lambda a, c, t: c[0].id if len(c) == 1 else None,
        "campaign_name": lambda a, c, t: c[0].name if len(c) == 1 else None,
        "objective": lambda a, c, t: c[0].objective if len(c) == 1 else None,
        "impressions": lambda a, c, t: str(t.impressions),
        "clicks": lambda a, c, t: str(t.clicks),
        "inline_link_clicks": lambda a, c, t: str(t.clicks),
        "unique_clicks": lambda a, c, t: str(int(t.clicks * 0.9)),
        "spend": lambda a, c, t: money(t.cost),
        "reach": lambda a, c, t: str(_reach(t)),
        "frequency": lambda a, c, t: ratio(t.impressions, _reach(t)),
        "ctr": lambda a, c, t: ratio(t.clicks, t.impressions, 100),
        "cpc": lambda a, c, t: ratio(float(t.cost), t.clicks),
        "cpm": lambda a, c, t: ratio(float(t.cost), t.impressions, 1000),
        "actions": lambda a, c, t: _actions(c, a, t, values=False),
        "action_values": lambda a, c, t: _actions(c, a, t, values=True),
        "cost_per_action_type": lambda a, c, t: (
            [
                {
                    "action_type": e["action_type"],
                    "value": number(round(float(t.cost) / float(e["value"]), 6)),
                }
                for e in (_actions(c, a, t, values=False) or [])
                if float(e["value"])
            ]
            or None
        ),
        "purchase_roas": lambda a, c, t: (
            [{"action_type": "omni_purchase", "value": number(round(float(t.conversion_value / t.cost), 6))}]
            if t.cost and t.conversion_value
            else None
        ),
        "conversions": lambda a, c, t: None,
        "conversion_values": lambda a, c, t: None,
        "date_start": lambda a, c, t: None,
        "date_stop": lambda a, c, t: None,
    }


INSIGHT_VALUES = _insight_values()


def _time_window(store: Store, params: dict[str, Any]) -> tuple[date, date]:
    time_range = json_param(params, "time_range")
    if time_range is not None:
        if not isinstance(time_range, dict) or "since" not in time_range or "until" not in time_range:
            raise GraphError("(#100) Param time_range must be a JSON object with since and until")
        try:
            since, until = parse_date(time_range["since"]), parse_date(time_range["until"])
        except ValueError as exc:
            raise GraphError("(#100) Param time_range[since] and time_range[until] must be dates") from exc
        if since > until:
            raise GraphError("(#100) Param time_range: since must not be after until")
        return since, until
    preset = str(params.get("date_preset", "last_30d"))
    if preset not in DATE_PRESETS:
        raise GraphError(f"(#100) date_preset must be one of the following values: {', '.join(DATE_PRESETS)}")
    return DATE_PRESETS[preset](store.today())


def _buckets(since: date, until: date, increment: str) -> list[tuple[date, date]]:
    if increment == "all_days":
        return [(since, until)]
    buckets: list[tuple[date, date]] = []
    start = since
    while start <= until:
        if increment == "monthly":
            next_month = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
            stop = min(until, next_month - timedelta(days=1))
        else:
            if not increment.isdigit() or not 1 <= int(increment) <= 90:
                raise GraphError(
                    "(#100) Param time_increment must be all_days, monthly or a number of days 1-90"
                )
            stop = min(until, start + timedelta(days=int(increment) - 1))
        buckets.append((start, stop))
        start = stop + timedelta(days=1)
    return buckets


def _bucket_totals(store: Store, campaigns: list[Campaign], start: date, stop: date) -> Totals:
    totals = Totals()
    days = [(start + timedelta(days=i)).isoformat() for i in range((stop - start).days + 1)]
    for campaign in campaigns:
        by_date = store.metrics.get(campaign.id)
        if not by_date:
            continue
        for day in days:
            row = by_date.get(day)
            if row is not None:
                totals.add(row)
    return totals


def filter_campaigns(campaigns: list[Campaign], filtering: Any, prefix: str = "") -> list[Campaign]:
    """Graph `filtering` over campaign fields (id, name, effective_status, objective)."""
    if not filtering:
        return campaigns
    if not isinstance(filtering, list):
        raise GraphError("(#100) param filtering must be an array")
    result = campaigns
    for rule in filtering:
        if not isinstance(rule, dict) or not {"field", "operator"} <= rule.keys():
            raise GraphError("(#100) Each filtering rule needs field, operator and value")
        name = str(rule["field"]).removeprefix("campaign.")
        getters = {
            "id": lambda c: c.id,
            "name": lambda c: c.name,
            "effective_status": lambda c: c.status,
            "configured_status": lambda c: c.status,
            "objective": lambda c: c.objective,
        }
        if name not in getters:
            raise GraphError(f"(#100) Filtering field {rule['field']} is invalid.")
        result = [
            c for c in result if _matches(getters[name](c), str(rule["operator"]).upper(), rule.get("value"))
        ]
    return result


def _matches(actual: Any, operator: str, expected: Any) -> bool:
    listed = [str(v) for v in expected] if isinstance(expected, list) else [str(expected)]
    text = "" if actual is None else str(actual)
    checks: dict[str, Callable[[], bool]] = {
        "EQUAL": lambda: text == str(expected),
        "NOT_EQUAL": lambda: text != str(expected),
        "IN": lambda: text in listed,
        "NOT_IN": lambda: text not in listed,
        "CONTAIN": lambda: str(expected).lower() in text.lower(),
        "NOT_CONTAIN": lambda: str(expected).lower() not in text.lower(),
        "STARTS_WITH": lambda: text.lower().startswith(str(expected).lower()),
        "ENDS_WITH": lambda: text.lower().endswith(str(expected).lower()),
        "GREATER_THAN": lambda: text.isdigit() and int(text) > int(expected),
        "LESS_THAN": lambda: text.isdigit() and int(text) < int(expected),
    }
    if operator not in checks:
        raise GraphError(f"(#100) Filtering operator {operator} is invalid.")
    return checks[operator]()


def insight_rows(store: Store, account: Account, params: dict[str, Any]) -> list[dict[str, Any]]:
    level = str(params.get("level", "account"))
    if level not in ("account", "campaign"):
        if level in ("adset", "ad"):
            raise GraphError(f"(#100) level {level} is not modelled by this fake")
        raise GraphError("(#100) Param level must be one of {ad, adset, campaign, account}")
    if params.get("breakdowns"):
        raise GraphError("(#100) breakdowns are not modelled by this fake")
    fields = fields_param(params, "impressions,spend", set(INSIGHT_VALUES), "AdsInsights")
    since, until = _time_window(store, params)
    campaigns = filter_campaigns(store.campaigns_of(account.id), json_param(params, "filtering"))
    groups = [[c] for c in campaigns] if level == "campaign" else [campaigns]
    rows: list[dict[str, Any]] = []
    for start, stop in _buckets(since, until, str(params.get("time_increment", "all_days"))):
        for group in groups:
            totals = _bucket_totals(store, group, start, stop)
            if totals.empty:
                continue
            row = {}
            for name in fields:
                value = INSIGHT_VALUES[name](account, group, totals)
                if value is not None:
                    row[name] = value
            row["date_start"], row["date_stop"] = start.isoformat(), stop.isoformat()
            rows.append(row)
    return rows


async def insights(request: web.Request, params: dict[str, Any]) -> web.Response:
    account = ad_account(request)
    rows = insight_rows(store_of(request), account, params)
    return json_response(page(request, params, rows))


# --- campaigns -------------------------------------------------------------------------------


def _budget_minor(amount: Decimal | None, account: Account) -> str | None:
    return None if amount is None else str(int(amount * minor_unit_factor(account.currency)))


def _campaign_values() -> dict[str, Callable[[Campaign, Account], Any]]:
    return {
        "id": lambda c, a: c.id,
        "account_id": lambda c, a: a.id,
        "name": lambda c, a: c.name,
        "status": lambda c, a: c.status,
        "configured_status": lambda c, a: c.status,
        "effective_status": lambda c, a: c.status,
        "objective": lambda c, a: c.objective,
        "daily_budget": lambda c, a: _budget_minor(c.daily_budget, a),
        "lifetime_budget": lambda c, a: _budget_minor(c.lifetime_budget, a),
        "budget_remaining": lambda c, a: _budget_minor(c.daily_budget or c.lifetime_budget or Decimal(0), a),
        "special_ad_categories": lambda c, a: c.extra.get("special_ad_categories", []),
        "buying_type": lambda c, a: c.extra.get("buying_type", "AUCTION"),
        "bid_strategy": lambda c, a: c.extra.get("bid_strategy"),
        "start_time": lambda c, a: c.extra.get("start_time") or graph_time(c.created),
        "stop_time": lambda c, a: c.extra.get("stop_time"),
        "created_time": lambda c, a: graph_time(c.created),
        "updated_time": lambda c, a: graph_time(c.updated),
    }


CAMPAIGN_VALUES = _campaign_values()


def campaign_json(campaign: Campaign, account: Account, fields: list[str]) -> dict[str, Any]:
    out = {}
    for name in fields:
        value = CAMPAIGN_VALUES[name](campaign, account)
        if value is not None:
            out[name] = value
    return out


async def list_campaigns(request: web.Request, params: dict[str, Any]) -> web.Response:
    """GET act_{id}/campaigns: DELETED and ARCHIVED campaigns only when asked for through
    effective_status (or a filtering rule on it)."""
    account = ad_account(request)
    store = store_of(request)
    fields = fields_param(params, "id", set(CAMPAIGN_VALUES), "Campaign")
    filtering = json_param(params, "filtering", [])
    campaigns = filter_campaigns(store.campaigns_of(account.id), filtering)
    statuses = json_param(params, "effective_status")
    if statuses is not None:
        campaigns = [c for c in campaigns if c.status in statuses]
    elif not any(
        str(r.get("field", "")).endswith("effective_status") for r in filtering if isinstance(r, dict)
    ):
        campaigns = [c for c in campaigns if c.status not in ("DELETED", "ARCHIVED")]
    body = page(request, params, [campaign_json(c, account, fields) for c in campaigns])
    if "total_count" in str(params.get("summary", "")):
        body["summary"] = {"total_count": len(campaigns)}
    return json_response(body)


def _budget_param(params: dict[str, Any], name: str, account: Account) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not str(raw).isdigit() or int(raw) <= 0:
        raise GraphError(
            f"(#100) The parameter {name} must be a positive integer in the account's minor units"
        )
    return Decimal(int(raw)) / minor_unit_factor(account.currency)


def _validate_only(params: dict[str, Any]) -> bool:
    options = json_param(params, "execution_options", [])
    return isinstance(options, list) and "validate_only" in options


def _status_param(params: dict[str, Any], allowed: frozenset[str], default: str | None) -> str | None:
    status = params.get("status", default)
    if status is not None and status not in allowed:
        raise GraphError(f"(#100) Param status must be one of {{{', '.join(sorted(allowed))}}}")
    return status


async def create_campaign(request: web.Request, params: dict[str, Any]) -> web.Response:
    """POST act_{id}/campaigns: name, objective (ODAX OUTCOME_*), special_ad_categories (may be
    []), status ACTIVE|PAUSED, daily_budget xor lifetime_budget (minor units) -> {"id"}."""
    account = ad_account(request)
    store = store_of(request)
    for name in ("name", "objective"):
        if not params.get(name):
            raise GraphError(f"(#100) The parameter {name} is required")
    if params["objective"] not in OBJECTIVES:
        raise GraphError(f"(#100) Param objective must be one of {{{', '.join(sorted(OBJECTIVES))}}}")
    categories = json_param(params, "special_ad_categories")
    if categories is None:
        raise GraphError("(#100) The parameter special_ad_categories is required")
    if not isinstance(categories, list) or any(c not in SPECIAL_AD_CATEGORIES for c in categories):
        raise GraphError("(#100) Param special_ad_categories must be an array of special ad categories")
    status = _status_param(params, frozenset({"ACTIVE", "PAUSED"}), "ACTIVE")
    daily, lifetime = (
        _budget_param(params, "daily_budget", account),
        _budget_param(params, "lifetime_budget", account),
    )
    if daily is not None and lifetime is not None:
        raise GraphError("(#100) Only one of daily_budget or lifetime_budget can be set")
    if _validate_only(params):
        return json_response({"success": True})
    now = store.now()
    extra = {"special_ad_categories": categories}
    for key in ("bid_strategy", "buying_type", "start_time", "stop_time", "spend_cap"):
        if params.get(key):
            extra[key] = params[key]
    campaign = Campaign(
        store.next_id(),
        account.id,
        str(params["name"]),
        str(status),
        daily,
        lifetime,
        str(params["objective"]),
        now,
        now,
        extra,
    )
    store.add_campaign(campaign)
    return json_response({"id": campaign.id})


def _node_campaign(request: web.Request) -> tuple[Campaign, Account]:
    store = store_of(request)
    object_id = request.match_info["object_id"]
    campaign = store.campaigns.get(object_id)
    if campaign is None:
        verb = request.method.lower()
        raise GraphError(
            UNSUPPORTED.format(verb=verb, id=object_id), 100, subcode=33, type_="GraphMethodException"
        )
    return campaign, store.accounts[campaign.account_id]


async def read_node(request: web.Request, params: dict[str, Any]) -> web.Response:
    campaign, account = _node_campaign(request)
    return json_response(
        campaign_json(campaign, account, fields_param(params, "id", set(CAMPAIGN_VALUES), "Campaign"))
    )


async def update_node(request: web.Request, params: dict[str, Any]) -> web.Response:
    """POST /{campaign_id}: status, name, daily_budget / lifetime_budget, stop_time ->
    {"success": true}; switching between daily and lifetime budgets is refused."""
    campaign, account = _node_campaign(request)
    status = _status_param(params, STATUSES, None)
    daily, lifetime = (
        _budget_param(params, "daily_budget", account),
        _budget_param(params, "lifetime_budget", account),
    )
    if (daily is not None and campaign.lifetime_budget is not None) or (
        lifetime is not None and campaign.daily_budget is not None
    ):
        raise GraphError("(#100) Cannot switch between daily and lifetime budgets", subcode=1885621)
    if _validate_only(params):
        return json_response({"success": True})
    if status is not None:
        campaign.status = status
    if params.get("name"):
        campaign.name = str(params["name"])
    campaign.daily_budget = daily if daily is not None else campaign.daily_budget
    campaign.lifetime_budget = lifetime if lifetime is not None else campaign.lifetime_budget
    for key in ("bid_strategy", "stop_time", "spend_cap"):
        if params.get(key):
            campaign.extra[key] = params[key]
    campaign.updated = store_of(request).now()
    return json_response({"success": True})


async def delete_node(request: web.Request, params: dict[str, Any]) -> web.Response:
    campaign, _ = _node_campaign(request)
    campaign.status = "DELETED"
    campaign.updated = store_of(request).now()
    return json_response({"success": True})


# --- ad accounts -----------------------------------------------------------------------------


def _account_values() -> dict[str, Callable[[Account], Any]]:
    status_codes = {"ACTIVE": 1, "DISABLED": 2, "UNSETTLED": 3, "CLOSED": 101}
    return {
        "id": lambda a: f"act_{a.id}",
        "account_id": lambda a: a.id,
        "name": lambda a: a.name,
        "currency": lambda a: a.currency,
        "timezone_name": lambda a: a.timezone,
        "account_status": lambda a: status_codes.get(a.status, 1),
        "business": lambda a: (
            {"id": a.business_id, "name": f"Business {a.business_id}"} if a.business_id else None
        ),
    }


ACCOUNT_VALUES = _account_values()


def account_json(account: Account, fields: list[str]) -> dict[str, Any]:
    return {name: value for name in fields if (value := ACCOUNT_VALUES[name](account)) is not None}


async def read_account(request: web.Request, params: dict[str, Any]) -> web.Response:
    fields = fields_param(params, "account_id,id", set(ACCOUNT_VALUES), "AdAccount")
    return json_response(account_json(ad_account(request), fields))


async def my_accounts(request: web.Request, params: dict[str, Any]) -> web.Response:
    fields = fields_param(params, "account_id,id", set(ACCOUNT_VALUES), "AdAccount")
    accounts = [account_json(a, fields) for a in store_of(request).accounts.values()]
    return json_response(page(request, params, accounts))


# --- OAuth -----------------------------------------------------------------------------------

CODE_ERRORS: dict[str, tuple[str, int | None]] = {
    "unknown_code": ("Invalid verification code format.", 36007),
    "used_code": ("This authorization code has been used.", 36009),
    "expired_code": ("This authorization code has expired.", 36007),
    "redirect_mismatch": (
        "Error validating verification code. Please make sure your redirect_uri is identical to the one you "
        "used in the OAuth dialog request",
        36008,
    ),
    "missing_verifier": ("Invalid code verifier. The code_verifier parameter is required.", None),
    "bad_verifier": ("Invalid code verifier.", None),
}


def _check_app(store: Store, params: dict[str, Any]) -> str:
    client_id = params.get("client_id")
    if not client_id:
        raise GraphError("Missing client_id parameter.", 101)
    try:
        store.oauth.check_client(client_id, params.get("client_secret", ""))
    except OAuthError as exc:
        if exc.reason == "unknown_client":
            raise GraphError("Error validating application. Invalid application ID.", 101) from exc
        raise GraphError("Error validating client secret.", 1) from exc
    return str(client_id)


def _exchange(store: Store, client_id: str, params: dict[str, Any], ttl: int) -> dict[str, Any]:
    """grant_type=fb_exchange_token: a valid (short-lived) user token for a long-lived one."""
    oauth = store.oauth
    if oauth.fail_refresh > 0:
        oauth.fail_refresh -= 1
        raise GraphError(
            "Error validating access token: The session has been invalidated because the user changed their "
            "password or Facebook has changed the session for security reasons.",
            190,
            subcode=460,
        )
    state = oauth.access_status(params.get("fb_exchange_token"))
    if state != "ok":
        subcode = {"expired": 463, "revoked": 460}.get(state)
        raise GraphError(f"Error validating access token: the token is {state}.", 190, subcode=subcode)
    access, _ = oauth.issue(client_id, "fb_exchange_token", ttl=ttl)
    return {"access_token": access.value, "token_type": "bearer", "expires_in": ttl}


def _redeem(store: Store, client_id: str, params: dict[str, Any], ttl: int) -> dict[str, Any]:
    try:
        code = store.oauth.redeem(
            params.get("code"), client_id, params.get("redirect_uri"), params.get("code_verifier")
        )
    except OAuthError as exc:
        message, subcode = CODE_ERRORS.get(exc.reason, ("Invalid verification code format.", 36007))
        raise GraphError(message, 100, subcode=subcode) from exc
    access, _ = store.oauth.issue(client_id, "authorization_code", code.scope, ttl=ttl)
    return {"access_token": access.value, "token_type": "bearer", "expires_in": ttl}


async def access_token(request: web.Request) -> web.Response:
    """GET /oauth/access_token: code exchange, fb_exchange_token, client_credentials."""
    params = dict(request.query)
    if request.method == "POST":
        params.update(dict(await request.post()))
    store = store_of(request)
    options = request.app[OPTIONS]
    try:
        client_id = _check_app(store, params)
        grant = params.get("grant_type")
        if grant == "fb_exchange_token":
            return json_response(_exchange(store, client_id, params, options["long_lived_ttl"]))
        if grant == "client_credentials":
            value = f"{client_id}|{params.get('client_secret')}"
            store.oauth.add_access(value, None, client_id)
            return json_response({"access_token": value, "token_type": "bearer"})
        if params.get("code"):
            return json_response(_redeem(store, client_id, params, options["token_ttl"]))
        raise GraphError("(#100) Missing code or grant_type parameter")
    except GraphError as exc:
        return from_exception(exc)


async def dialog(request: web.Request) -> web.StreamResponse:
    """www.facebook.com/vN/dialog/oauth: consents at once, redirects with code and state."""
    deny = {
        "error": "access_denied",
        "error_code": "200",
        "error_description": "Permissions error",
        "error_reason": "user_denied",
    }
    return authorization_redirect(store_of(request), dict(request.query), deny)


async def set_usage(request: web.Request) -> web.Response:
    body = await request.json() if request.can_read_body else {}
    usage = store_of(request).extra.setdefault("usage", {})
    for key in ("call_count", "total_time", "total_cputime", "acc_id_util_pct"):
        if key in body:
            usage[key] = float(decimal(body[key], key))
    return json_response({"usage": usage})


# --- app -------------------------------------------------------------------------------------

PROVIDER = Provider(
    name="meta",
    statuses={
        "ACTIVE": "ACTIVE",
        "ENABLED": "ACTIVE",
        "PAUSED": "PAUSED",
        "DELETED": "DELETED",
        "REMOVED": "DELETED",
        "ARCHIVED": "ARCHIVED",
    },
    first_id=120_210_000_000_000_001,
    default_account_id="1234567890123456",
    token_prefixes=("EAAfake", "EAAfakeR"),
    failure_status=400,
    failure_response=failure_response,
)


def make_app(
    *,
    app_id: str = "fake-meta-app-id",
    app_secret: str = "fake-meta-app-secret",
    access_tokens: tuple[str, ...] = ("fake-meta-access-token",),
    token_ttl: int = 3600,
    long_lived_ttl: int = 5_184_000,
    usage_per_call: float = 0.0,
    seed: dict[str, Any] | None = None,
) -> web.Application:
    """A fake Meta Marketing API. access_tokens are pre-issued and never expire; a code
    exchange issues a short-lived token (token_ttl), fb_exchange_token a long-lived one.
    usage_per_call: percentage points each call adds to the reported usage headers."""
    options = StoreOptions(
        clients={app_id: app_secret}, access_ttl=token_ttl, access_tokens=tuple(access_tokens), seed=seed
    )
    app = new_app(PROVIDER, options, middlewares=[usage_middleware])
    app[OPTIONS] = {
        "token_ttl": token_ttl,
        "long_lived_ttl": long_lived_ttl,
        "usage_per_call": usage_per_call,
    }
    account = VERSION + "/act_{account_id:\\d+}"
    app.router.add_get(account + "/insights", graph_route(insights))
    app.router.add_get(account + "/campaigns", graph_route(list_campaigns))
    app.router.add_post(account + "/campaigns", graph_route(create_campaign))
    app.router.add_get(account, graph_route(read_account))
    app.router.add_get(VERSION + "/me/adaccounts", graph_route(my_accounts))
    app.router.add_route("*", VERSION + "/oauth/access_token", access_token)
    app.router.add_get(VERSION + "/dialog/oauth", dialog)
    app.router.add_get("/dialog/oauth", dialog)
    node = VERSION + "/{object_id:\\d+}"
    app.router.add_get(node, graph_route(read_node))
    app.router.add_post(node, graph_route(update_node))
    app.router.add_delete(node, graph_route(delete_node))
    app.router.add_post("/_fake/usage", set_usage)
    return app


def main() -> None:
    run_cli("meta", make_app, 8093)


if __name__ == "__main__":
    main()
