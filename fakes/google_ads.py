"""Fake Google Ads API, REST interface (https://developers.google.com/google-ads/api/rest/overview).

Reproduces, for any `v<N>` version segment:
  * `POST /vN/customers/{cid}/googleAds:searchStream` (a JSON array of batches of up to 10,000
    rows) and `googleAds:search` (one page of 10,000 rows with nextPageToken), answering a GAQL
    subset: SELECT over campaign / campaign_budget / customer / segments.date / metrics,
    FROM campaign | customer | campaign_budget, WHERE (=, !=, <, <=, >, >=, IN, NOT IN, LIKE,
    NOT LIKE, BETWEEN, DURING, IS [NOT] NULL, REGEXP_MATCH) joined by AND, ORDER BY, LIMIT,
    PARAMETERS (ignored). Rows carry only the requested fields (plus the FROM resource's
    resourceName, as Google does) in the REST JSON mapping: lowerCamelCase names, int64 as
    strings ("costMicros": "12340000"), doubles as numbers, enums as names.
  * `GET /vN/customers:listAccessibleCustomers`.
  * `POST /vN/customers/{cid}/campaigns:mutate` and `campaignBudgets:mutate` with create /
    update (+updateMask) / remove operations, partialFailure, validateOnly and
    responseContentType; atomic unless partialFailure.
  * Headers: `Authorization: Bearer`, `developer-token`, optional `login-customer-id` (needed
    when an account is reached through its manager, seeded as "manager_id").
  * Errors in Google's JSON shape with a GoogleAdsFailure detail; injected rate limits are
    429 RESOURCE_EXHAUSTED with `quotaErrorDetails.retryDelay`.
  * OAuth 2.0 (oauth2.googleapis.com): `POST /token` (refresh_token and authorization_code with
    PKCE) and `GET /o/oauth2/auth` / `/o/oauth2/v2/auth` (auto-consent redirect).

Controls: see fakes/_ads.py (`/_fake/seed`, `/_fake/fail`, `/_fake/state`, ...).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from fakes._ads import (
    Account,
    Campaign,
    Failure,
    OAuthError,
    Provider,
    SeedError,
    Store,
    StoreOptions,
    Totals,
    authorization_redirect,
    client_credentials,
    json_response,
    minor_unit_factor,
    new_app,
    parse_date,
    store_of,
)
from fakes._server import run_cli

VERSION = r"/{version:v\d+}"
BATCH_SIZE = 10_000
MICROS = 1_000_000
FAILURE_TYPE = "type.googleapis.com/google.ads.googleads.{version}.errors.GoogleAdsFailure"
BAD_REQUEST_TYPE = "type.googleapis.com/google.rpc.BadRequest"
AUTH_MESSAGE = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
PERMISSION_MESSAGE = (
    "User doesn't have permission to access customer. Note: If you're accessing a client customer, "
    "the manager's customer id must be set in the 'login-customer-id' header. See "
    "https://developers.google.com/google-ads/api/docs/concepts/call-structure#cid"
)
INVALID_ARGUMENT = "Request contains an invalid argument."

CAMPAIGN_STATUSES = frozenset({"ENABLED", "PAUSED", "REMOVED"})
CHANNEL_TYPES = frozenset(
    {
        "SEARCH",
        "DISPLAY",
        "SHOPPING",
        "HOTEL",
        "VIDEO",
        "MULTI_CHANNEL",
        "LOCAL",
        "SMART",
        "PERFORMANCE_MAX",
        "LOCAL_SERVICES",
        "TRAVEL",
        "DEMAND_GEN",
    }
)
BIDDING_KEYS = {
    "manualCpc": "MANUAL_CPC",
    "manualCpm": "MANUAL_CPM",
    "manualCpv": "MANUAL_CPV",
    "maximizeConversions": "MAXIMIZE_CONVERSIONS",
    "maximizeConversionValue": "MAXIMIZE_CONVERSION_VALUE",
    "targetCpa": "TARGET_CPA",
    "targetRoas": "TARGET_ROAS",
    "targetSpend": "TARGET_SPEND",
    "targetImpressionShare": "TARGET_IMPRESSION_SHARE",
    "percentCpc": "PERCENT_CPC",
}
CAMPAIGN_MUTABLE = frozenset(
    {
        "name",
        "status",
        "campaignBudget",
        "startDate",
        "endDate",
        "advertisingChannelType",
        "biddingStrategy",
        "networkSettings",
        "geoTargetTypeSetting",
        "trackingUrlTemplate",
        "finalUrlSuffix",
        "urlCustomParameters",
        "frequencyCaps",
        "containsEuPoliticalAdvertising",
        *BIDDING_KEYS,
    }
)
BUDGET_MUTABLE = frozenset({"name", "amountMicros", "deliveryMethod", "explicitlyShared", "period", "status"})


# --- errors ----------------------------------------------------------------------------------


def request_id() -> str:
    return secrets.token_urlsafe(16)


def ads_error(kind: str, code: str, message: str, **extra: Any) -> dict[str, Any]:
    """One GoogleAdsError: {"errorCode": {kind: code}, "message", ...}."""
    return {"errorCode": {kind: code}, "message": message, **extra}


def google_error(
    request: web.Request,
    http_status: int,
    status: str,
    message: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Google's error envelope {"error": {"code", "message", "status", "details"}}, whose
    details carry a GoogleAdsFailure naming the requested API version."""
    body: dict[str, Any] = {"error": {"code": http_status, "message": message, "status": status}}
    if errors:
        version = request.match_info.get("version", "v17")
        failure = {"@type": FAILURE_TYPE.format(version=version), "errors": errors, "requestId": request_id()}
        body["error"]["details"] = [failure]
    return json_response(body, status=http_status, headers=headers)


def invalid_argument(request: web.Request, *errors: dict[str, Any]) -> web.Response:
    return google_error(request, 400, "INVALID_ARGUMENT", INVALID_ARGUMENT, list(errors))


def bad_json(request: web.Request, field_path: str, description: str) -> web.Response:
    """What the JSON transcoding layer answers for a payload it cannot map to the proto."""
    body = {
        "error": {
            "code": 400,
            "message": description,
            "status": "INVALID_ARGUMENT",
            "details": [
                {
                    "@type": BAD_REQUEST_TYPE,
                    "fieldViolations": [{"field": field_path, "description": description}],
                }
            ],
        }
    }
    return json_response(body, status=400)


def failure_response(request: web.Request, failure: Failure) -> web.Response:
    """An injected failure: 429 RESOURCE_EXHAUSTED with quotaErrorDetails.retryDelay (as Google
    reports rate limits), or the canonical status for any other HTTP code."""
    if failure.status == 429:
        delay = failure.options.get("retry_delay", f"{int(failure.retry_after)}s")
        delay = delay if isinstance(delay, str) else f"{int(delay)}s"
        quota = str(failure.options.get("quota_error", "RESOURCE_EXHAUSTED"))
        message = "Too many requests. Retry in " + delay.rstrip("s") + " seconds."
        error = ads_error(
            "quotaError",
            quota,
            message,
            details={
                "quotaErrorDetails": {
                    "rateScope": failure.options.get("rate_scope", "DEVELOPER"),
                    "rateName": failure.options.get("rate_name", "Number of operations for basic access"),
                    "retryDelay": delay,
                }
            },
        )
        return google_error(
            request, 429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", [error]
        )
    statuses = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        409: "ABORTED",
        500: "INTERNAL",
        501: "UNIMPLEMENTED",
        503: "UNAVAILABLE",
        504: "DEADLINE_EXCEEDED",
    }
    status = statuses.get(failure.status, "UNKNOWN")
    message = failure.options.get(
        "message", "Internal error encountered." if failure.status >= 500 else status
    )
    error = ads_error("internalError", "INTERNAL_ERROR", message) if failure.status >= 500 else None
    return google_error(request, failure.status, status, message, [error] if error else None)


# --- authentication --------------------------------------------------------------------------


OPTIONS = web.AppKey("google_options", dict)


def authenticate(request: web.Request, customer_id: str | None) -> web.Response | Account | None:
    """Checks Authorization, developer-token and login-customer-id the way Google Ads does;
    returns the customer (or None for customer-less calls) or the error response."""
    store = store_of(request)
    header = request.headers.get("Authorization")
    if header is None:
        return _unauthenticated(request, "AUTHENTICATION_ERROR", AUTH_MESSAGE)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthenticated(
            request, "OAUTH_TOKEN_HEADER_INVALID", "Oauth token HTTP header is malformed."
        )
    status = store.oauth.access_status(token.strip())
    if status != "ok":
        code = {
            "invalid": "OAUTH_TOKEN_INVALID",
            "expired": "OAUTH_TOKEN_EXPIRED",
            "revoked": "OAUTH_TOKEN_REVOKED",
        }
        return _unauthenticated(
            request, code[status], f"Oauth token is {status.replace('invalid', 'not valid')}."
        )
    developer_token = request.headers.get("developer-token")
    if not developer_token:
        error = ads_error(
            "requestError",
            "DEVELOPER_TOKEN_PARAMETER_MISSING",
            "The developer-token parameter is required for all requests.",
        )
        return google_error(request, 401, "UNAUTHENTICATED", AUTH_MESSAGE, [error])
    if developer_token != request.app[OPTIONS]["developer_token"]:
        error = ads_error("authenticationError", "AUTHENTICATION_ERROR", "The developer token is not valid.")
        return google_error(request, 401, "UNAUTHENTICATED", "The developer token is not valid.", [error])
    return _authorize_customer(request, store, customer_id) if customer_id is not None else None


def _unauthenticated(request: web.Request, code: str, message: str) -> web.Response:
    error = ads_error("authenticationError", code, message)
    return google_error(
        request,
        401,
        "UNAUTHENTICATED",
        AUTH_MESSAGE if code == "AUTHENTICATION_ERROR" else "Request had invalid authentication credentials.",
        [error],
    )


def _authorize_customer(request: web.Request, store: Store, customer_id: str) -> web.Response | Account:
    if not customer_id.isdigit():
        error = ads_error("requestError", "INVALID_CUSTOMER_ID", "Customer ID is invalid.")
        return invalid_argument(request, error)
    login = request.headers.get("login-customer-id")
    if login is not None and not login.isdigit():
        error = ads_error(
            "headerError", "INVALID_LOGIN_CUSTOMER_ID", "The login customer ID could not be validated."
        )
        return invalid_argument(request, error)
    account = store.accounts.get(customer_id)
    if account is None:
        return _permission_denied(request, "USER_PERMISSION_DENIED", PERMISSION_MESSAGE)
    managers = _managers(store, account)
    if login is None and managers:
        return _permission_denied(request, "USER_PERMISSION_DENIED", PERMISSION_MESSAGE)
    if login is not None and login != account.id and login not in managers:
        return _permission_denied(
            request,
            "INVALID_LOGIN_CUSTOMER_ID_SERVING_CUSTOMER_ID_COMBINATION",
            "The login customer specified does not have access to the account specified, so the request is invalid.",
        )
    if account.status in ("CANCELED", "CANCELLED", "SUSPENDED", "CLOSED"):
        return _permission_denied(
            request,
            "CUSTOMER_NOT_ENABLED",
            "The customer account can't be accessed because it is not yet enabled or has been deactivated.",
        )
    return account


def _managers(store: Store, account: Account) -> list[str]:
    """The manager chain above an account (login-customer-id may name any of them)."""
    chain: list[str] = []
    current = account.manager_id
    while current and current not in chain:
        chain.append(current)
        parent = store.accounts.get(current)
        current = parent.manager_id if parent else None
    return chain


def _permission_denied(request: web.Request, code: str, message: str) -> web.Response:
    error = ads_error("authorizationError", code, message)
    return google_error(request, 403, "PERMISSION_DENIED", "The caller does not have permission", [error])


# --- GAQL: fields ----------------------------------------------------------------------------


@dataclass
class Row:
    """One result row before rendering: its customer, campaign/budget, date and metrics."""

    customer: Account
    campaign: Campaign | None = None
    budget: dict[str, Any] | None = None
    date: str | None = None
    totals: Totals | None = None


@dataclass(frozen=True)
class FieldSpec:
    type: str  # INT64, DOUBLE, STRING, ENUM, DATE, RESOURCE_NAME, BOOLEAN
    get: Callable[[Row], Any]
    enum: frozenset[str] = frozenset()


def _budget_of(store: Store, campaign: Campaign | None) -> dict[str, Any] | None:
    if campaign is None:
        return None
    return store.budgets.get(campaign.extra.get("budget_id", ""))


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _t(row: Row) -> Totals:
    return row.totals or Totals()


def _micros(amount: Decimal) -> int:
    return int(amount * MICROS)


def _campaign_fields() -> dict[str, FieldSpec]:
    def c(row: Row) -> Campaign:
        assert row.campaign is not None
        return row.campaign

    return {
        "campaign.resource_name": FieldSpec(
            "RESOURCE_NAME", lambda r: f"customers/{r.customer.id}/campaigns/{c(r).id}"
        ),
        "campaign.id": FieldSpec("INT64", lambda r: int(c(r).id)),
        "campaign.name": FieldSpec("STRING", lambda r: c(r).name),
        "campaign.status": FieldSpec("ENUM", lambda r: c(r).status, CAMPAIGN_STATUSES),
        "campaign.advertising_channel_type": FieldSpec(
            "ENUM", lambda r: c(r).extra.get("advertising_channel_type", "SEARCH"), CHANNEL_TYPES
        ),
        "campaign.bidding_strategy_type": FieldSpec(
            "ENUM",
            lambda r: c(r).extra.get("bidding_strategy_type", "MANUAL_CPC"),
            frozenset(BIDDING_KEYS.values()),
        ),
        "campaign.campaign_budget": FieldSpec(
            "RESOURCE_NAME",
            lambda r: (
                f"customers/{r.customer.id}/campaignBudgets/{c(r).extra['budget_id']}"
                if c(r).extra.get("budget_id")
                else None
            ),
        ),
        "campaign.start_date": FieldSpec("DATE", lambda r: c(r).extra.get("start_date")),
        "campaign.end_date": FieldSpec("DATE", lambda r: c(r).extra.get("end_date")),
        "campaign.serving_status": FieldSpec(
            "ENUM",
            lambda r: {"ENABLED": "SERVING", "PAUSED": "NONE", "REMOVED": "ENDED"}[c(r).status],
            frozenset({"SERVING", "NONE", "ENDED", "PENDING", "SUSPENDED"}),
        ),
    }


def _budget_fields() -> dict[str, FieldSpec]:
    def b(row: Row) -> dict[str, Any] | None:
        return row.budget

    def get(key: str) -> Callable[[Row], Any]:
        return lambda r: b(r)[key] if b(r) else None

    return {
        "campaign_budget.resource_name": FieldSpec(
            "RESOURCE_NAME",
            lambda r: f"customers/{r.customer.id}/campaignBudgets/{b(r)['id']}" if b(r) else None,
        ),
        "campaign_budget.id": FieldSpec("INT64", lambda r: int(b(r)["id"]) if b(r) else None),
        "campaign_budget.name": FieldSpec("STRING", get("name")),
        "campaign_budget.amount_micros": FieldSpec("INT64", get("amount_micros")),
        "campaign_budget.status": FieldSpec("ENUM", get("status"), frozenset({"ENABLED", "REMOVED"})),
        "campaign_budget.delivery_method": FieldSpec(
            "ENUM", get("delivery_method"), frozenset({"STANDARD", "ACCELERATED"})
        ),
        "campaign_budget.explicitly_shared": FieldSpec("BOOLEAN", get("explicitly_shared")),
        "campaign_budget.period": FieldSpec("ENUM", get("period"), frozenset({"DAILY", "CUSTOM_PERIOD"})),
    }


def _customer_fields() -> dict[str, FieldSpec]:
    return {
        "customer.resource_name": FieldSpec("RESOURCE_NAME", lambda r: f"customers/{r.customer.id}"),
        "customer.id": FieldSpec("INT64", lambda r: int(r.customer.id)),
        "customer.descriptive_name": FieldSpec("STRING", lambda r: r.customer.name),
        "customer.currency_code": FieldSpec("STRING", lambda r: r.customer.currency),
        "customer.time_zone": FieldSpec("STRING", lambda r: r.customer.timezone),
        "customer.manager": FieldSpec("BOOLEAN", lambda r: r.customer.manager),
        "customer.test_account": FieldSpec(
            "BOOLEAN", lambda r: bool(r.customer.extra.get("test_account", False))
        ),
        "customer.status": FieldSpec(
            "ENUM",
            lambda r: "ENABLED" if r.customer.status == "ACTIVE" else r.customer.status,
            frozenset({"ENABLED", "CANCELED", "SUSPENDED", "CLOSED"}),
        ),
    }


def _metric_fields() -> dict[str, FieldSpec]:
    return {
        "segments.date": FieldSpec("DATE", lambda r: r.date),
        "metrics.impressions": FieldSpec("INT64", lambda r: _t(r).impressions),
        "metrics.clicks": FieldSpec("INT64", lambda r: _t(r).clicks),
        "metrics.cost_micros": FieldSpec("INT64", lambda r: _micros(_t(r).cost)),
        "metrics.conversions": FieldSpec("DOUBLE", lambda r: float(_t(r).conversions)),
        "metrics.conversions_value": FieldSpec("DOUBLE", lambda r: float(_t(r).conversion_value)),
        "metrics.all_conversions": FieldSpec("DOUBLE", lambda r: float(_t(r).conversions)),
        "metrics.all_conversions_value": FieldSpec("DOUBLE", lambda r: float(_t(r).conversion_value)),
        "metrics.ctr": FieldSpec("DOUBLE", lambda r: _ratio(_t(r).clicks, _t(r).impressions)),
        "metrics.average_cpc": FieldSpec("DOUBLE", lambda r: _ratio(_micros(_t(r).cost), _t(r).clicks)),
        "metrics.average_cpm": FieldSpec(
            "DOUBLE", lambda r: _ratio(_micros(_t(r).cost) * 1000, _t(r).impressions)
        ),
        "metrics.cost_per_conversion": FieldSpec(
            "DOUBLE", lambda r: _ratio(_micros(_t(r).cost), _t(r).conversions)
        ),
    }


FIELDS: dict[str, FieldSpec] = {
    **_campaign_fields(),
    **_budget_fields(),
    **_customer_fields(),
    **_metric_fields(),
}
# Which field prefixes each FROM resource may select (its attributed resources, segments, metrics).
RESOURCES: dict[str, frozenset[str]] = {
    "campaign": frozenset({"campaign", "campaign_budget", "customer", "segments", "metrics"}),
    "customer": frozenset({"customer", "segments", "metrics"}),
    "campaign_budget": frozenset({"campaign_budget", "customer"}),
}


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def field_path(name: str) -> str:
    return ".".join(camel(part) for part in name.split("."))


# --- GAQL: parsing ---------------------------------------------------------------------------


class GaqlError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Condition:
    field: str
    op: str
    value: Any


@dataclass
class Query:
    select: list[str]
    resource: str
    where: list[Condition] = field(default_factory=list)
    order: list[tuple[str, bool]] = field(default_factory=list)
    limit: int | None = None


_TOKEN = re.compile(
    r"""(?P<space>\s+)
      |(?P<string>'(?:[^'\\\n]|\\.)*'|"(?:[^"\\\n]|\\.)*")
      |(?P<number>-?\d+(?:\.\d+)?)
      |(?P<op>>=|<=|!=|=|>|<)
      |(?P<punct>[(),])
      |(?P<word>[A-Za-z_][A-Za-z0-9_.]*)""",
    re.VERBOSE,
)


def tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos] in "'\"":
                raise GaqlError(
                    "STRING_NOT_TERMINATED", f"Error in query: unterminated string at position {pos}."
                )
            raise GaqlError(
                "BAD_SYMBOL", f"Error in query: unexpected input {text[pos]!r} at position {pos}."
            )
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group()))
        pos = match.end()
    return tokens


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


class Parser:
    """Recursive-descent parser for the GAQL subset described in the module docstring."""

    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise GaqlError("UNEXPECTED_END_OF_QUERY", "Error in query: unexpected end of query.")
        self.pos += 1
        return token

    def keyword(self, *words: str) -> bool:
        token = self.peek()
        if token and token[0] == "word" and token[1].upper() in words:
            self.pos += 1
            return True
        return False

    def punct(self, char: str) -> bool:
        if self.peek() == ("punct", char):
            self.pos += 1
            return True
        return False

    def parse(self) -> Query:
        if not self.keyword("SELECT"):
            raise GaqlError("EXPECTED_SELECT", "Error in query: SELECT is missing at the beginning of query.")
        select = self.field_list()
        if not self.keyword("FROM"):
            raise GaqlError("EXPECTED_FROM", "Error in query: missing FROM clause.")
        query = Query(select, self.word())
        if self.keyword("WHERE"):
            query.where = self.conditions()
        if self.keyword("ORDER"):
            if not self.keyword("BY"):
                raise GaqlError("EXPECTED_BY", "Error in query: expecting ORDER BY to have BY.")
            query.order = self.orderings()
        if self.keyword("LIMIT"):
            query.limit = self.limit()
        if self.keyword("PARAMETERS"):
            self.pos = len(self.tokens)
        if self.peek() is not None:
            raise GaqlError("UNEXPECTED_INPUT", f"Error in query: unexpected input {self.peek()[1]}.")  # type: ignore[index]
        return query

    def word(self) -> str:
        kind, text = self.take()
        if kind != "word":
            raise GaqlError("BAD_FIELD_NAME", f"Error in query: unexpected input {text}.")
        return text

    def field_list(self) -> list[str]:
        fields = [self.word()]
        while self.punct(","):
            fields.append(self.word())
        return fields

    def conditions(self) -> list[Condition]:
        conditions = [self.condition()]
        while self.keyword("AND"):
            conditions.append(self.condition())
        return conditions

    def condition(self) -> Condition:
        name = self.word()
        kind, text = self.take()
        if kind == "op":
            return Condition(name, text, self.value())
        op = text.upper()
        if op == "NOT":
            op = "NOT " + self.word().upper()
        if op in ("IN", "NOT IN"):
            return Condition(name, op, self.value_list())
        if op == "BETWEEN":
            low = self.value()
            if not self.keyword("AND"):
                raise GaqlError(
                    "EXPECTED_AND", "Error in query: expected AND between values with BETWEEN operator."
                )
            return Condition(name, op, [low, self.value()])
        if op in ("LIKE", "NOT LIKE", "REGEXP_MATCH", "NOT REGEXP_MATCH", "DURING"):
            return Condition(name, op, self.value())
        if op == "IS":
            negate = self.keyword("NOT")
            if not self.keyword("NULL"):
                raise GaqlError("BAD_OPERATOR", "Error in query: expected NULL after IS.")
            return Condition(name, "IS NOT NULL" if negate else "IS NULL", None)
        raise GaqlError("BAD_OPERATOR", f"Error in query: invalid operator {text}.")

    def value(self) -> tuple[str, str]:
        token = self.take()
        if token[0] not in ("string", "number", "word"):
            raise GaqlError("BAD_VALUE", f"Error in query: unexpected input {token[1]}.")
        return token

    def value_list(self) -> list[tuple[str, str]]:
        if not self.punct("("):
            raise GaqlError("EXPECTED_LIST", "Error in query: the operator requires the value to be a list.")
        if self.punct(")"):
            raise GaqlError(
                "PROHIBITED_EMPTY_LIST_IN_CONDITION", "Error in query: a condition has an empty list."
            )
        values = [self.value()]
        while self.punct(","):
            values.append(self.value())
        if not self.punct(")"):
            raise GaqlError("UNEXPECTED_END_OF_QUERY", "Error in query: unterminated list.")
        return values

    def orderings(self) -> list[tuple[str, bool]]:
        order = []
        while True:
            name = self.word()
            descending = self.keyword("DESC")
            if not descending:
                self.keyword("ASC")
            order.append((name, descending))
            if not self.punct(","):
                return order

    def limit(self) -> int:
        kind, text = self.take()
        if kind != "number" or not text.lstrip("-").isdigit():
            raise GaqlError("BAD_LIMIT_VALUE", "Error in query: limit value is invalid.")
        if int(text) <= 0:
            raise GaqlError(
                "LIMIT_VALUE_TOO_LOW", "Error in query: the value passed to the limit clause is too low."
            )
        return int(text)


# --- GAQL: validation and values -------------------------------------------------------------


def parse_query(text: str, today: date, manager: bool) -> Query:
    """Parses and checks a query: known fields, resource compatibility, typed literals and the
    finite date range Google requires when segments.date is selected."""
    query = Parser(text).parse()
    if query.resource not in RESOURCES:
        raise GaqlError(
            "BAD_RESOURCE_TYPE_IN_FROM_CLAUSE",
            f"Error in query: invalid resource type '{query.resource}' in FROM clause (the fake models "
            f"{', '.join(sorted(RESOURCES))}).",
        )
    clauses = [
        ("SELECT", query.select),
        ("WHERE", [c.field for c in query.where]),
        ("ORDER_BY", [name for name, _ in query.order]),
    ]
    for clause, names in clauses:
        for name in names:
            _check_field(name, query.resource, clause)
    if manager and any(name.startswith("metrics.") for name in query.select):
        raise GaqlError(
            "REQUESTED_METRICS_FOR_MANAGER",
            "Metrics cannot be requested for a manager account. To retrieve metrics, issue separate "
            "requests against each client account under the manager account.",
        )
    for condition in query.where:
        condition.value = _coerce_condition(condition, today)
    if "segments.date" in query.select:
        since, until = date_bounds(query.where)
        if since is None or until is None:
            raise GaqlError(
                "EXPECTED_FILTERS_ON_DATE_RANGE",
                "Error in query: filters on date/week/month/quarter/year date segments are required "
                "when selecting them (a finite date range).",
            )
    return query


def _check_field(name: str, resource: str, clause: str) -> None:
    if name not in FIELDS:
        raise GaqlError("UNRECOGNIZED_FIELD", f"Unrecognized field in the query: '{name}'.")
    if name.split(".", 1)[0] not in RESOURCES[resource]:
        clause_code = "SELECT" if clause != "WHERE" else "WHERE"
        raise GaqlError(
            f"PROHIBITED_RESOURCE_TYPE_IN_{clause_code}_CLAUSE",
            f"Cannot select or filter on the following fields: '{name}', since the field is "
            f"incompatible with the resource in the FROM clause.",
        )


DATE_RANGES = {
    "TODAY": (0, 0),
    "YESTERDAY": (1, 1),
    "LAST_7_DAYS": (7, 1),
    "LAST_14_DAYS": (14, 1),
    "LAST_30_DAYS": (30, 1),
}


def _during(literal: str, today: date) -> tuple[str, str]:
    literal = literal.upper()
    if literal in DATE_RANGES:
        back, until = DATE_RANGES[literal]
        return (today - timedelta(days=back)).isoformat(), (today - timedelta(days=until)).isoformat()
    first = today.replace(day=1)
    if literal == "THIS_MONTH":
        return first.isoformat(), today.isoformat()
    if literal == "LAST_MONTH":
        last = first - timedelta(days=1)
        return last.replace(day=1).isoformat(), last.isoformat()
    if literal in ("LAST_BUSINESS_WEEK", "LAST_WEEK_MON_SUN", "THIS_WEEK_MON_TODAY"):
        monday = today - timedelta(days=today.weekday())
        if literal == "THIS_WEEK_MON_TODAY":
            return monday.isoformat(), today.isoformat()
        start = monday - timedelta(days=7)
        end = start + timedelta(days=4 if literal == "LAST_BUSINESS_WEEK" else 6)
        return start.isoformat(), end.isoformat()
    raise GaqlError(
        "INVALID_VALUE_WITH_DURING_OPERATOR", f"Error in query: {literal} is not a date range literal."
    )


def _coerce_condition(condition: Condition, today: date) -> Any:
    spec = FIELDS[condition.field]
    op, raw = condition.op, condition.value
    if op == "DURING":
        if spec.type != "DATE" or raw[0] != "word":
            raise GaqlError(
                "INVALID_VALUE_WITH_DURING_OPERATOR", "Error in query: invalid value with DURING."
            )
        return _during(raw[1], today)
    if op == "BETWEEN":
        try:
            return [_coerce(spec, token) for token in raw]
        except GaqlError as exc:
            raise GaqlError("INVALID_VALUE_WITH_BETWEEN_OPERATOR", exc.message) from exc
    if op in ("IN", "NOT IN"):
        return [_coerce(spec, token) for token in raw]
    if op in ("LIKE", "NOT LIKE", "REGEXP_MATCH", "NOT REGEXP_MATCH"):
        if raw[0] != "string" or spec.type not in ("STRING", "RESOURCE_NAME"):
            raise GaqlError("INVALID_VALUE_WITH_LIKE_OPERATOR", f"Error in query: invalid value with {op}.")
        return _unquote(raw[1])
    return None if raw is None else _coerce(spec, raw)


def _coerce(spec: FieldSpec, token: tuple[str, str]) -> Any:
    kind, text = token
    if spec.type == "INT64":
        if kind != "number" or not text.lstrip("-").isdigit():
            raise GaqlError("BAD_NUMBER", f"Error in query: {text} is not an integer.")
        return int(text)
    if spec.type == "DOUBLE":
        if kind != "number":
            raise GaqlError("BAD_NUMBER", f"Error in query: {text} is not a number.")
        return float(text)
    if spec.type == "BOOLEAN":
        if text.upper() not in ("TRUE", "FALSE"):
            raise GaqlError("BAD_VALUE", f"Error in query: {text} is not a boolean.")
        return text.upper() == "TRUE"
    value = _unquote(text) if kind == "string" else text
    if spec.type == "ENUM":
        if value.upper() not in spec.enum:
            raise GaqlError("BAD_ENUM_CONSTANT", f"Error in query: invalid enum constant {value}.")
        return value.upper()
    if kind != "string":
        raise GaqlError("INVALID_STRING_VALUE", f"Error in query: {text} should be a quoted string.")
    if spec.type == "DATE":
        try:
            return parse_date(value).isoformat()
        except SeedError as exc:
            raise GaqlError(
                "INVALID_DATE_FORMAT", "Error in query: invalid date format. Expected 'YYYY-MM-DD'."
            ) from exc
    return value


def date_bounds(conditions: list[Condition]) -> tuple[str | None, str | None]:
    """The [since, until] window the segments.date conditions pin down (None: unbounded)."""
    since: str | None = None
    until: str | None = None

    def lower(value: str) -> None:
        nonlocal since
        since = value if since is None else max(since, value)

    def upper(value: str) -> None:
        nonlocal until
        until = value if until is None else min(until, value)

    for c in (c for c in conditions if c.field == "segments.date"):
        if c.op in ("=", ">=", ">", "BETWEEN", "DURING", "IN"):
            lower(c.value if c.op in ("=", ">=", ">") else min(c.value))
        if c.op in ("=", "<=", "<", "BETWEEN", "DURING", "IN"):
            upper(c.value if c.op in ("=", "<=", "<") else max(c.value))
    return since, until


def holds(condition: Condition, value: Any) -> bool:
    op, expected = condition.op, condition.value
    if op == "IS NULL":
        return value is None
    if op == "IS NOT NULL":
        return value is not None
    if value is None:
        return False
    if op in ("LIKE", "NOT LIKE"):
        pattern = "".join(".*" if ch == "%" else re.escape(ch) for ch in expected)
        return (re.fullmatch(pattern, value, re.DOTALL) is not None) == (op == "LIKE")
    if op in ("REGEXP_MATCH", "NOT REGEXP_MATCH"):
        return (re.fullmatch(expected, value) is not None) == (op == "REGEXP_MATCH")
    checks: dict[str, Callable[[], bool]] = {
        "=": lambda: value == expected,
        "!=": lambda: value != expected,
        ">": lambda: value > expected,
        ">=": lambda: value >= expected,
        "<": lambda: value < expected,
        "<=": lambda: value <= expected,
        "IN": lambda: value in expected,
        "NOT IN": lambda: value not in expected,
        "BETWEEN": lambda: expected[0] <= value <= expected[1],
        "DURING": lambda: expected[0] <= value <= expected[1],
    }
    return checks[op]()


# --- GAQL: execution and rendering -----------------------------------------------------------


def execute(store: Store, customer: Account, query: Query) -> list[Row]:
    """Builds the rows: one per entity (per day when segments.date is selected; days without
    metrics are left out, as Google omits zero rows of segmented queries), filtered, ordered,
    limited."""
    date_conditions = [c for c in query.where if c.field == "segments.date"]
    by_date = "segments.date" in query.select
    referenced = [*query.select, *(c.field for c in query.where), *(n for n, _ in query.order)]
    with_metrics = any(name.startswith("metrics.") for name in referenced)
    rows: list[Row] = []
    for entity, campaign_ids in _entities(store, customer, query.resource):
        daily = _daily_totals(store, campaign_ids, date_conditions) if (by_date or with_metrics) else {}
        if by_date:
            rows.extend(entity_row(entity, d, t) for d, t in sorted(daily.items()))
        else:
            totals = Totals()
            for day_totals in daily.values():
                totals.add(day_totals)
            rows.append(entity_row(entity, None, totals if with_metrics else None))
    other = [c for c in query.where if c.field != "segments.date"]
    rows = [r for r in rows if all(holds(c, FIELDS[c.field].get(r)) for c in other)]
    for name, descending in reversed(query.order):
        rows.sort(key=lambda r, n=name: _sort_key(FIELDS[n].get(r)), reverse=descending)
    return rows[: query.limit] if query.limit else rows


def _sort_key(value: Any) -> tuple[bool, Any]:
    return (value is not None, value if value is not None else 0)


def _entities(store: Store, customer: Account, resource: str) -> list[tuple[Row, list[str]]]:
    if resource == "customer":
        return [(Row(customer), [c.id for c in store.campaigns_of(customer.id)])]
    if resource == "campaign_budget":
        budgets = sorted(
            (b for b in store.budgets.values() if b["account_id"] == customer.id), key=lambda b: int(b["id"])
        )
        return [(Row(customer, budget=b), []) for b in budgets]
    return [
        (Row(customer, campaign=c, budget=_budget_of(store, c)), [c.id])
        for c in store.campaigns_of(customer.id)
    ]


def _daily_totals(store: Store, campaign_ids: list[str], conditions: list[Condition]) -> dict[str, Totals]:
    since, until = date_bounds(conditions)
    daily: dict[str, Totals] = {}
    for campaign_id in campaign_ids:
        for metric in store.rows(campaign_id, since, until):
            if all(holds(c, metric.date) for c in conditions):
                daily.setdefault(metric.date, Totals()).add(metric)
    return daily


def entity_row(entity: Row, day: str | None, totals: Totals | None) -> Row:
    return Row(entity.customer, entity.campaign, entity.budget, day, totals)


def wire(spec: FieldSpec, value: Any) -> Any:
    """The REST JSON mapping of a proto value: int64 as a decimal string, double/bool as JSON."""
    if spec.type == "INT64":
        return str(int(value))
    if spec.type == "DOUBLE":
        return float(value)
    if spec.type == "BOOLEAN":
        return bool(value)
    return str(value)


def render(row: Row, query: Query) -> dict[str, Any]:
    out: dict[str, Any] = {}
    names = dict.fromkeys([f"{query.resource}.resource_name", *query.select])
    for name in names:
        spec = FIELDS[name]
        value = spec.get(row)
        if value is None:
            continue
        node = out
        *parents, leaf = [camel(part) for part in name.split(".")]
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = wire(spec, value)
    return out


def field_mask(query: Query) -> str:
    return ",".join(field_path(name) for name in query.select)


async def _read_json(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return bad_json(request, "", "Invalid JSON payload received.")
    if not isinstance(body, dict):
        return bad_json(request, "", "Invalid JSON payload received. Expected an object.")
    return body


async def _run_query(request: web.Request) -> tuple[Query, list[Row]] | web.Response:
    customer = authenticate(request, request.match_info["customer_id"])
    if isinstance(customer, web.Response):
        return customer
    assert customer is not None
    body = await _read_json(request)
    if isinstance(body, web.Response):
        return body
    if not isinstance(body.get("query"), str) or not body["query"].strip():
        error = ads_error("queryError", "QUERY_ERROR", "The query is required.")
        return invalid_argument(request, error)
    store = store_of(request)
    try:
        query = parse_query(body["query"], store.today(), customer.manager)
    except GaqlError as exc:
        return invalid_argument(request, ads_error("queryError", exc.code, exc.message))
    return query, execute(store, customer, query)


async def search_stream(request: web.Request) -> web.Response:
    """googleAds:searchStream: a JSON array of response batches of up to 10,000 rows; the last
    batch carries queryResourceConsumption; an empty result is one batch without results."""
    outcome = await _run_query(request)
    if isinstance(outcome, web.Response):
        return outcome
    query, rows = outcome
    rid, mask = request_id(), field_mask(query)
    batches: list[dict[str, Any]] = []
    for start in range(0, len(rows), BATCH_SIZE):
        chunk = [render(row, query) for row in rows[start : start + BATCH_SIZE]]
        batches.append({"results": chunk, "fieldMask": mask, "requestId": rid})
    if not batches:
        batches.append({"fieldMask": mask, "requestId": rid})
    batches[-1]["queryResourceConsumption"] = str(max(1, len(rows)))
    return json_response(batches)


async def search(request: web.Request) -> web.Response:
    """googleAds:search: one page of 10,000 rows and a nextPageToken while more remain."""
    outcome = await _run_query(request)
    if isinstance(outcome, web.Response):
        return outcome
    query, rows = outcome
    body = await request.json()
    offset = 0
    if body.get("pageToken"):
        offset = _page_offset(body["pageToken"])
        if offset is None or offset > len(rows):
            return invalid_argument(
                request, ads_error("requestError", "INVALID_PAGE_TOKEN", "Page token is invalid.")
            )
    page = rows[offset : offset + BATCH_SIZE]
    result: dict[str, Any] = {"fieldMask": field_mask(query), "requestId": request_id()}
    if page:
        result["results"] = [render(row, query) for row in page]
    if offset + BATCH_SIZE < len(rows):
        result["nextPageToken"] = base64.urlsafe_b64encode(f"page:{offset + BATCH_SIZE}".encode()).decode()
    if body.get("returnTotalResultsCount"):
        result["totalResultsCount"] = str(len(rows))
    result["queryResourceConsumption"] = str(max(1, len(page)))
    return json_response(result)


def _page_offset(token: str) -> int | None:
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    return int(text[5:]) if text.startswith("page:") and text[5:].isdigit() else None


async def list_accessible_customers(request: web.Request) -> web.Response:
    """customers:listAccessibleCustomers: the accounts the user reaches directly (no manager)."""
    outcome = authenticate(request, None)
    if isinstance(outcome, web.Response):
        return outcome
    store = store_of(request)
    names = [f"customers/{a.id}" for a in store.accounts.values() if not a.manager_id]
    return json_response({"resourceNames": names})


# --- mutates ---------------------------------------------------------------------------------


class MutateFailure(Exception):
    """One failed operation (a GoogleAdsError)."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["message"])
        self.error = error


class BadPayload(Exception):
    """A value the JSON transcoding cannot map (bad enum, non-integer int64): fails the request."""

    def __init__(self, path: str, description: str) -> None:
        super().__init__(description)
        self.path = path
        self.description = description


@dataclass
class MutateContext:
    store: Store
    customer: Account
    version: str
    undo: list[Callable[[], None]] = field(default_factory=list)


Operation = Callable[[MutateContext, dict[str, Any], int], tuple[str, dict[str, Any] | None]]


def _enum(value: Any, allowed: frozenset[str], path: str, enum_name: str, version: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        type_url = f"type.googleapis.com/google.ads.googleads.{version}.enums.{enum_name}"
        raise BadPayload(path, f"Invalid value at '{path}' ({type_url}), {json.dumps(value)}")
    return value


def _int64(value: Any, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
        raise BadPayload(path, f"Invalid value at '{path}' (TYPE_INT64), {json.dumps(value)}")
    return int(value)


def _resource_id(ctx: MutateContext, name: Any, collection: str) -> str:
    match = (
        re.fullmatch(rf"customers/(\d+)/{collection}/(\d+)", name or "") if isinstance(name, str) else None
    )
    if match is None:
        raise MutateFailure(
            ads_error("requestError", "RESOURCE_NAME_MALFORMED", "Resource name provided is malformed.")
        )
    if match.group(1) != ctx.customer.id:
        raise MutateFailure(ads_error("requestError", "INVALID_CUSTOMER_ID", "Customer ID is invalid."))
    return match.group(2)


def _required(message_field: str) -> MutateFailure:
    return MutateFailure(
        ads_error(
            "fieldError",
            "REQUIRED",
            "The required field was not present.",
            trigger={"stringValue": message_field},
        )
    )


def _update_mask(op: dict[str, Any], allowed: frozenset[str]) -> list[str]:
    mask = op.get("updateMask")
    if not mask:
        raise MutateFailure(
            ads_error(
                "fieldMaskError",
                "FIELD_MASK_MISSING",
                "The field mask must be provided for update operations.",
            )
        )
    paths = [camel(snake(p.strip())) if "_" in p else p.strip() for p in str(mask).split(",") if p.strip()]
    for path in paths:
        if path.split(".", 1)[0] not in allowed:
            raise MutateFailure(
                ads_error("fieldMaskError", "FIELD_NOT_FOUND", f"The field mask path {path} was not found.")
            )
    return paths


def _snapshot(ctx: MutateContext, campaign: Campaign) -> None:
    saved = copy.deepcopy(campaign)
    ctx.undo.append(lambda: ctx.store.campaigns.__setitem__(saved.id, saved))


def _snapshot_budget(ctx: MutateContext, budget: dict[str, Any]) -> None:
    saved = copy.deepcopy(budget)
    ctx.undo.append(lambda: ctx.store.budgets.__setitem__(saved["id"], saved))


# campaigns


def _campaign_name_taken(ctx: MutateContext, name: str, except_id: str | None = None) -> bool:
    return any(
        c.name == name and c.status != "REMOVED" and c.id != except_id
        for c in ctx.store.campaigns_of(ctx.customer.id)
    )


def _budget_for_campaign(ctx: MutateContext, name: Any) -> dict[str, Any]:
    budget_id = _resource_id(ctx, name, "campaignBudgets")
    budget = ctx.store.budgets.get(budget_id)
    if budget is None or budget["account_id"] != ctx.customer.id:
        raise MutateFailure(
            ads_error("mutateError", "RESOURCE_NOT_FOUND", "Requested resource was not found.")
        )
    if budget["status"] == "REMOVED":
        raise MutateFailure(
            ads_error(
                "campaignBudgetError",
                "CAMPAIGN_BUDGET_REMOVED",
                "The requested campaign budget no longer exists.",
            )
        )
    return budget


def _link_budget(campaign: Campaign, budget: dict[str, Any]) -> None:
    campaign.extra["budget_id"] = budget["id"]
    campaign.daily_budget = Decimal(budget["amount_micros"]) / MICROS


def _set_campaign_field(ctx: MutateContext, campaign: Campaign, key: str, value: Any, path: str) -> None:
    if key == "name":
        if not isinstance(value, str) or not value.strip():
            raise _required("name")
        if _campaign_name_taken(ctx, value, campaign.id):
            raise MutateFailure(
                ads_error(
                    "campaignError", "DUPLICATE_CAMPAIGN_NAME", "A campaign already exists with this name."
                )
            )
        campaign.name = value
    elif key == "status":
        campaign.status = _enum(
            value, CAMPAIGN_STATUSES, path, "CampaignStatusEnum.CampaignStatus", ctx.version
        )
        if campaign.status == "REMOVED" and ".create." in path:
            raise MutateFailure(
                ads_error(
                    "operationAccessDeniedError",
                    "CREATE_AS_REMOVED_NOT_PERMITTED",
                    "Creating a resource with status REMOVED is not permitted.",
                )
            )
        if campaign.status == "REMOVED":
            raise MutateFailure(
                ads_error(
                    "fieldError", "INVALID_VALUE", "The field's value is invalid; use a remove operation."
                )
            )
    elif key == "campaignBudget":
        _link_budget(campaign, _budget_for_campaign(ctx, value))
    elif key == "advertisingChannelType":
        campaign.extra["advertising_channel_type"] = _enum(
            value, CHANNEL_TYPES, path, "AdvertisingChannelTypeEnum.AdvertisingChannelType", ctx.version
        )
    elif key in ("startDate", "endDate"):
        campaign.extra[snake(key)] = parse_date(value).isoformat()
    elif key in BIDDING_KEYS:
        campaign.extra["bidding_strategy_type"] = BIDDING_KEYS[key]
    else:
        campaign.extra.setdefault("settings", {})[key] = value


def create_campaign(ctx: MutateContext, body: dict[str, Any], index: int) -> Campaign:
    for key in ("name", "advertisingChannelType", "campaignBudget"):
        if key not in body:
            raise _required(snake(key))
    now = ctx.store.now()
    campaign = Campaign(ctx.store.next_id(), ctx.customer.id, "", "ENABLED", created=now, updated=now)
    for key, value in body.items():
        if key not in ("resourceName", "id"):
            _set_campaign_field(ctx, campaign, key, value, f"operations[{index}].create.{snake(key)}")
    ctx.store.campaigns[campaign.id] = campaign
    ctx.undo.append(lambda: ctx.store.campaigns.pop(campaign.id, None))
    return campaign


def _existing_campaign(ctx: MutateContext, name: Any) -> Campaign:
    if name is None:
        raise MutateFailure(
            ads_error("requestError", "RESOURCE_NAME_MISSING", "Resource name is required for this request.")
        )
    campaign = ctx.store.campaigns.get(_resource_id(ctx, name, "campaigns"))
    if campaign is None or campaign.account_id != ctx.customer.id:
        raise MutateFailure(
            ads_error("mutateError", "RESOURCE_NOT_FOUND", "Requested resource was not found.")
        )
    if campaign.status == "REMOVED":
        raise MutateFailure(
            ads_error(
                "contextError",
                "OPERATION_NOT_PERMITTED_FOR_REMOVED_RESOURCE",
                "The operation is not allowed for removed resources.",
            )
        )
    return campaign


def campaign_operation(ctx: MutateContext, op: dict[str, Any], index: int) -> tuple[str, Campaign]:
    kind = _operation_kind(op)
    if kind == "create":
        campaign = create_campaign(ctx, op["create"], index)
    elif kind == "remove":
        campaign = _existing_campaign(ctx, op["remove"])
        _snapshot(ctx, campaign)
        campaign.status = "REMOVED"
    else:
        campaign = _existing_campaign(ctx, op["update"].get("resourceName"))
        paths = _update_mask(op, CAMPAIGN_MUTABLE)
        _snapshot(ctx, campaign)
        for path in paths:
            key = path.split(".", 1)[0]
            if key == "advertisingChannelType":
                raise MutateFailure(
                    ads_error(
                        "fieldError", "IMMUTABLE_FIELD", "The field attempted to be mutated is immutable."
                    )
                )
            _set_campaign_field(
                ctx, campaign, key, op["update"].get(key), f"operations[{index}].update.{snake(key)}"
            )
    campaign.updated = ctx.store.now()
    return f"customers/{ctx.customer.id}/campaigns/{campaign.id}", campaign


def _operation_kind(op: Any) -> str:
    kinds = [k for k in ("create", "update", "remove") if isinstance(op, dict) and k in op]
    if len(kinds) != 1:
        raise MutateFailure(
            ads_error(
                "requestError",
                "OPERATION_REQUIRED",
                "Mutate operation should have either create, update, or remove specified.",
            )
        )
    return kinds[0]


# budgets


def _min_unit_micros(currency: str) -> int:
    return MICROS // minor_unit_factor(currency)


def _set_budget_field(ctx: MutateContext, budget: dict[str, Any], key: str, value: Any, path: str) -> None:
    if key == "amountMicros":
        amount = _int64(value, path)
        if amount < 0:
            raise MutateFailure(
                ads_error("campaignBudgetError", "NEGATIVE_MONEY_AMOUNT", "A money amount was negative.")
            )
        if amount % _min_unit_micros(ctx.customer.currency):
            raise MutateFailure(
                ads_error(
                    "campaignBudgetError",
                    "NON_MULTIPLE_OF_MINIMUM_CURRENCY_UNIT",
                    "A money amount was not a multiple of a minimum unit.",
                )
            )
        budget["amount_micros"] = amount
    elif key == "name":
        taken = any(
            b["name"] == value and b["status"] != "REMOVED" and b["id"] != budget["id"]
            for b in ctx.store.budgets.values()
            if b["account_id"] == ctx.customer.id
        )
        if taken:
            raise MutateFailure(
                ads_error(
                    "campaignBudgetError",
                    "DUPLICATE_NAME",
                    "A campaign budget with this name already exists.",
                )
            )
        budget["name"] = value
    elif key == "deliveryMethod":
        budget["delivery_method"] = _enum(
            value,
            frozenset({"STANDARD", "ACCELERATED"}),
            path,
            "BudgetDeliveryMethodEnum.BudgetDeliveryMethod",
            ctx.version,
        )
    elif key == "explicitlyShared":
        budget["explicitly_shared"] = bool(value)
    elif key == "period":
        budget["period"] = _enum(
            value, frozenset({"DAILY", "CUSTOM_PERIOD"}), path, "BudgetPeriodEnum.BudgetPeriod", ctx.version
        )


def _sync_budget(ctx: MutateContext, budget: dict[str, Any]) -> None:
    for campaign in ctx.store.campaigns_of(ctx.customer.id):
        if campaign.extra.get("budget_id") == budget["id"]:
            _snapshot(ctx, campaign)
            _link_budget(campaign, budget)


def new_budget(
    store: Store, account_id: str, name: str | None, amount_micros: int, shared: bool
) -> dict[str, Any]:
    budget_id = store.next_id()
    budget = {
        "id": budget_id,
        "account_id": account_id,
        "name": name,
        "amount_micros": amount_micros,
        "status": "ENABLED",
        "delivery_method": "STANDARD",
        "explicitly_shared": shared,
        "period": "DAILY",
    }
    store.budgets[budget_id] = budget
    return budget


def budget_operation(ctx: MutateContext, op: dict[str, Any], index: int) -> tuple[str, dict[str, Any]]:
    kind = _operation_kind(op)
    if kind == "create":
        body = op["create"]
        if "amountMicros" not in body:
            raise _required("amount_micros")
        shared = bool(body.get("explicitlyShared", True))
        if shared and not body.get("name"):
            raise _required("name")
        budget = new_budget(ctx.store, ctx.customer.id, None, 0, shared)
        ctx.undo.append(lambda: ctx.store.budgets.pop(budget["id"], None))
        for key, value in body.items():
            _set_budget_field(ctx, budget, key, value, f"operations[{index}].create.{snake(key)}")
    else:
        name = op["remove"] if kind == "remove" else op["update"].get("resourceName")
        if name is None:
            raise MutateFailure(
                ads_error(
                    "requestError", "RESOURCE_NAME_MISSING", "Resource name is required for this request."
                )
            )
        budget = _budget_for_campaign(ctx, name)
        _snapshot_budget(ctx, budget)
        if kind == "remove":
            _remove_budget(ctx, budget)
        else:
            for path in _update_mask(op, BUDGET_MUTABLE):
                key = path.split(".", 1)[0]
                _set_budget_field(
                    ctx, budget, key, op["update"].get(key), f"operations[{index}].update.{snake(key)}"
                )
            _sync_budget(ctx, budget)
    return f"customers/{ctx.customer.id}/campaignBudgets/{budget['id']}", budget


def _remove_budget(ctx: MutateContext, budget: dict[str, Any]) -> None:
    in_use = any(
        c.extra.get("budget_id") == budget["id"] and c.status != "REMOVED"
        for c in ctx.store.campaigns_of(ctx.customer.id)
    )
    if in_use:
        raise MutateFailure(
            ads_error(
                "campaignBudgetError",
                "CAMPAIGN_BUDGET_IN_USE",
                "The campaign budget is associated with at least one campaign, and so the campaign budget "
                "cannot be removed.",
            )
        )
    budget["status"] = "REMOVED"


# the mutate endpoint


def _mutable_resource(ctx: MutateContext, resource: Any) -> dict[str, Any]:
    if isinstance(resource, Campaign):
        row = Row(ctx.customer, campaign=resource, budget=_budget_of(ctx.store, resource))
        names = [n for n in FIELDS if n.startswith("campaign.")]
        return render(row, Query(names, "campaign"))["campaign"]
    row = Row(ctx.customer, budget=resource)
    names = [n for n in FIELDS if n.startswith("campaign_budget.")]
    return render(row, Query(names, "campaign_budget"))["campaignBudget"]


def mutate_handler(
    operation: Callable[..., tuple[str, Any]], resource_key: str
) -> Callable[[web.Request], Any]:
    """campaigns:mutate / campaignBudgets:mutate: every operation runs against the store with an
    undo log; without partialFailure one failed operation rolls everything back (400), with it
    the failed operations answer {} and partialFailureError lists them; validateOnly rolls back
    and answers {}."""

    async def handler(request: web.Request) -> web.Response:
        customer = authenticate(request, request.match_info["customer_id"])
        if isinstance(customer, web.Response):
            return customer
        assert customer is not None
        body = await _read_json(request)
        if isinstance(body, web.Response):
            return body
        operations = body.get("operations")
        if not isinstance(operations, list) or not operations:
            return invalid_argument(request, _required("operations").error)
        ctx = MutateContext(store_of(request), customer, request.match_info["version"])
        try:
            results, errors = _apply_all(
                ctx, operations, operation, body.get("responseContentType"), resource_key
            )
        except BadPayload as exc:
            _rollback(ctx)
            return bad_json(request, exc.path, exc.description)
        if errors and not body.get("partialFailure"):
            _rollback(ctx)
            return invalid_argument(request, *errors)
        if body.get("validateOnly"):
            _rollback(ctx)
            return json_response({} if not errors else _partial(request, results, errors))
        return json_response(_partial(request, results, errors) if errors else {"results": results})

    return handler


def _apply_all(
    ctx: MutateContext,
    operations: list[Any],
    operation: Callable[..., tuple[str, Any]],
    content: Any,
    key: str,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for index, op in enumerate(operations):
        mark = len(ctx.undo)
        try:
            name, resource = operation(ctx, op, index)
        except MutateFailure as failure:
            _rollback(ctx, mark)
            location = {"fieldPathElements": [{"fieldName": "operations", "index": index}]}
            errors.append({**failure.error, "location": location})
            results.append({})
            continue
        result: dict[str, Any] = {"resourceName": name}
        if content == "MUTABLE_RESOURCE":
            result[key] = _mutable_resource(ctx, resource)
        results.append(result)
    return results, errors


def _rollback(ctx: MutateContext, mark: int = 0) -> None:
    while len(ctx.undo) > mark:
        ctx.undo.pop()()


def _partial(
    request: web.Request, results: list[dict[str, Any]], errors: list[dict[str, Any]]
) -> dict[str, Any]:
    version = request.match_info["version"]
    first = errors[0]
    index = first["location"]["fieldPathElements"][0]["index"]
    message = (
        f"Multiple errors in 'details'. First error: {first['message']}, at operations[{index}]"
        if len(errors) > 1
        else f"{first['message']}, at operations[{index}]"
    )
    failure = {"@type": FAILURE_TYPE.format(version=version), "errors": errors, "requestId": request_id()}
    return {"partialFailureError": {"code": 3, "message": message, "details": [failure]}, "results": results}


# --- OAuth -----------------------------------------------------------------------------------

TOKEN_ERRORS: dict[str, tuple[int, str, str]] = {
    "unknown_client": (401, "invalid_client", "The OAuth client was not found."),
    "bad_secret": (401, "invalid_client", "Unauthorized"),
    "invalid_refresh": (400, "invalid_grant", "Bad Request"),
    "revoked_refresh": (400, "invalid_grant", "Token has been expired or revoked."),
    "expired_refresh": (400, "invalid_grant", "Token has been expired or revoked."),
    "injected": (400, "invalid_grant", "Token has been expired or revoked."),
    "unknown_code": (400, "invalid_grant", "Malformed auth code."),
    "used_code": (400, "invalid_grant", "Bad Request"),
    "expired_code": (400, "invalid_grant", "Bad Request"),
    "redirect_mismatch": (400, "redirect_uri_mismatch", "Bad Request"),
    "missing_verifier": (400, "invalid_grant", "Missing code verifier."),
    "bad_verifier": (400, "invalid_grant", "Invalid code verifier."),
}


def _token_error(status: int, error: str, description: str) -> web.Response:
    return json_response({"error": error, "error_description": description}, status=status)


async def token(request: web.Request) -> web.Response:
    """oauth2.googleapis.com/token: refresh_token and authorization_code (+PKCE) grants."""
    form = dict(await request.post())
    store = store_of(request)
    grant_type = form.get("grant_type")
    client_id, secret = client_credentials(request, form)
    needed = {"refresh_token": ("refresh_token",), "authorization_code": ("code", "redirect_uri")}
    if grant_type not in needed:
        if not grant_type:
            return _token_error(400, "invalid_request", "Missing required parameter: grant_type")
        return _token_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")
    for name in needed[grant_type]:
        if not form.get(name):
            return _token_error(400, "invalid_request", f"Missing required parameter: {name}")
    try:
        store.oauth.check_client(client_id, secret if secret is not None else "")
        assert client_id is not None
        if grant_type == "refresh_token":
            refresh = store.oauth.use_refresh(form["refresh_token"], client_id)
            access, _ = store.oauth.issue(client_id, "refresh_token", refresh.scope, refresh=refresh)
            return json_response(_token_body(access, None))
        code = store.oauth.redeem(form["code"], client_id, form["redirect_uri"], form.get("code_verifier"))
        access, refresh = store.oauth.issue(
            client_id, "authorization_code", code.scope, new_refresh=code.offline
        )
        return json_response(_token_body(access, refresh))
    except OAuthError as exc:
        return _token_error(*TOKEN_ERRORS[exc.reason])


def _token_body(access: Any, refresh: Any) -> dict[str, Any]:
    body = {
        "access_token": access.value,
        "expires_in": int(access.expires_at - access.issued_at),
        "scope": access.scope or "https://www.googleapis.com/auth/adwords",
        "token_type": "Bearer",
    }
    if refresh is not None:
        body["refresh_token"] = refresh.value
    return body


async def authorize(request: web.Request) -> web.StreamResponse:
    """accounts.google.com/o/oauth2/v2/auth: consents at once and redirects with code+state
    (or error=access_denied when a denial was queued with /_fake/oauth/deny)."""
    return authorization_redirect(store_of(request), dict(request.query), {"error": "access_denied"})


# --- app -------------------------------------------------------------------------------------


def _on_new_campaign(store: Store, campaign: Campaign) -> None:
    """A seeded campaign with a daily_budget gets its own (non-shared) campaign budget."""
    campaign.extra.setdefault("advertising_channel_type", "SEARCH")
    campaign.extra.setdefault("bidding_strategy_type", "MANUAL_CPC")
    if campaign.daily_budget is not None and "budget_id" not in campaign.extra:
        budget = new_budget(
            store, campaign.account_id, f"Budget {campaign.name}", _micros(campaign.daily_budget), False
        )
        campaign.extra["budget_id"] = budget["id"]


PROVIDER = Provider(
    name="google_ads",
    statuses={
        "ENABLED": "ENABLED",
        "ACTIVE": "ENABLED",
        "PAUSED": "PAUSED",
        "REMOVED": "REMOVED",
        "DELETED": "REMOVED",
        "ARCHIVED": "REMOVED",
    },
    first_id=20_000_000_001,
    default_account_id="1234567890",
    token_prefixes=("ya29.fake-", "1//fake-"),
    failure_status=429,
    failure_response=failure_response,
    on_new_campaign=_on_new_campaign,
)


def make_app(
    *,
    developer_token: str = "fake-developer-token",
    client_id: str = "fake-google-client-id",
    client_secret: str = "fake-google-client-secret",
    access_tokens: tuple[str, ...] = ("fake-google-access-token",),
    refresh_tokens: tuple[str, ...] = ("fake-google-refresh-token",),
    token_ttl: int = 3599,
    seed: dict[str, Any] | None = None,
) -> web.Application:
    """A fake Google Ads API. access_tokens/refresh_tokens are pre-issued and never expire;
    tokens minted by /token expire after token_ttl seconds (of the fake's clock)."""
    options = StoreOptions(
        clients={client_id: client_secret},
        access_ttl=token_ttl,
        access_tokens=tuple(access_tokens),
        refresh_tokens=tuple(refresh_tokens),
        seed=seed,
    )
    app = new_app(PROVIDER, options)
    app[OPTIONS] = {"developer_token": developer_token}
    customer = VERSION + "/customers/{customer_id}"
    app.router.add_post(customer + "/googleAds:searchStream", search_stream)
    app.router.add_post(customer + "/googleAds:search", search)
    app.router.add_post(customer + "/campaigns:mutate", mutate_handler(campaign_operation, "campaign"))
    app.router.add_post(
        customer + "/campaignBudgets:mutate", mutate_handler(budget_operation, "campaignBudget")
    )
    app.router.add_get(VERSION + "/customers:listAccessibleCustomers", list_accessible_customers)
    for path in ("/token", "/o/oauth2/token"):
        app.router.add_post(path, token)
    for path in ("/o/oauth2/auth", "/o/oauth2/v2/auth"):
        app.router.add_get(path, authorize)
    return app


def main() -> None:
    run_cli("google_ads", make_app, 8092)


if __name__ == "__main__":
    main()
