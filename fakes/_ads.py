"""Shared parts of the ad-platform fakes (google_ads, meta, linkedin).

Each fake keeps one `Store` in its app: ad accounts, campaigns, daily metric rows, request
counts, injected failures and delays, a clock offset and the OAuth token book. The `/_fake/*`
control routes (no auth, not part of any real API) seed and inspect that store; every provider
renders the same rows in its own wire format (Google micros, Meta strings, LinkedIn decimals).

Seed format (`POST /_fake/seed`, every key optional)::

    {"accounts":  [{"id", "name", "currency": "USD", "timezone": "UTC", "status",
                    "manager_id" (Google: the manager account for login-customer-id),
                    "manager": bool (Google manager account), "business_id" (Meta)}],
     "campaigns": [{"id" (default: next id), "account_id", "name", "status" (ACTIVE/ENABLED,
                    PAUSED, REMOVED/DELETED, DRAFT, ... mapped to the provider's spelling),
                    "daily_budget", "lifetime_budget" (account currency units), "objective",
                    any other key is kept as a provider-specific attribute}],
     "metrics":   [{"account_id", "campaign_id", "date": "YYYY-MM-DD", "impressions", "clicks",
                    "cost" (account currency units), "conversions", "conversion_value"}],
     "generate":  {"campaigns": N, "days": D, "accounts": [ids] | count, "seed": 0,
                    "end_date": "YYYY-MM-DD" (default yesterday), "start_date", "name_prefix"},
     "access_tokens": ["tok" | {"token", "expires_in"}], "refresh_tokens": ["rt"],
     "clients": {"client_id": "client_secret"}}

Unknown accounts and campaigns named by a metric row are created on the fly.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from yarl import URL

CONTROL_PREFIX = "/_fake/"
CODE_TTL = 600.0
ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "CLP", "VND", "ISK", "HUF", "TWD", "PYG", "UGX"})


class SeedError(ValueError):
    """A malformed control request; answered with 400 {"error": message}."""


# --- stored data -----------------------------------------------------------------------------


@dataclass
class Account:
    id: str
    name: str
    currency: str = "USD"
    timezone: str = "UTC"
    status: str = "ACTIVE"
    manager_id: str | None = None
    manager: bool = False
    business_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Campaign:
    id: str
    account_id: str
    name: str
    status: str
    daily_budget: Decimal | None = None
    lifetime_budget: Decimal | None = None
    objective: str | None = None
    created: float = 0.0
    updated: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class MetricRow:
    account_id: str
    campaign_id: str
    date: str
    impressions: int = 0
    clicks: int = 0
    cost: Decimal = Decimal(0)
    conversions: float = 0.0
    conversion_value: Decimal = Decimal(0)


@dataclass
class Totals:
    """Summed metric rows."""

    impressions: int = 0
    clicks: int = 0
    cost: Decimal = Decimal(0)
    conversions: float = 0.0
    conversion_value: Decimal = Decimal(0)

    def add(self, row: MetricRow | Totals) -> Totals:
        self.impressions += row.impressions
        self.clicks += row.clicks
        self.cost += row.cost
        self.conversions += row.conversions
        self.conversion_value += row.conversion_value
        return self

    @property
    def empty(self) -> bool:
        return not (self.impressions or self.clicks or self.cost)


@dataclass
class Failure:
    """An injected failure: the next `count` requests under path_prefix get the provider's
    error (count None: until reset). `options` holds the provider-specific retry hint."""

    path_prefix: str
    status: int
    count: int | None
    method: str | None
    retry_after: float
    options: dict[str, Any]

    def matches(self, request: web.Request) -> bool:
        method_ok = self.method is None or self.method.upper() == request.method
        return method_ok and request.path.startswith(self.path_prefix)


@dataclass
class Delay:
    seconds: float
    path_prefix: str
    count: int | None


@dataclass(frozen=True)
class Provider:
    """What differs between the fakes in the shared machinery."""

    name: str
    statuses: dict[str, str]
    first_id: int
    default_account_id: str
    token_prefixes: tuple[str, str]
    failure_status: int
    failure_response: Callable[[web.Request, Failure], web.StreamResponse]
    on_new_campaign: Callable[[Store, Campaign], None] | None = None

    def status(self, value: Any) -> str:
        spelled = str(value).upper()
        if spelled not in self.statuses:
            raise SeedError(f"unknown campaign status {value!r} for {self.name}")
        return self.statuses[spelled]


@dataclass
class StoreOptions:
    clients: dict[str, str]
    access_ttl: int = 3600
    refresh_ttl: int | None = None
    access_tokens: tuple[str, ...] = ()
    refresh_tokens: tuple[str, ...] = ()
    seed: dict[str, Any] | None = None


# --- OAuth token book ------------------------------------------------------------------------


@dataclass
class Token:
    value: str
    kind: str
    client_id: str | None
    scope: str
    issued_at: float
    expires_at: float | None
    revoked: bool = False


@dataclass
class AuthCode:
    code: str
    client_id: str
    redirect_uri: str | None
    scope: str
    challenge: str | None
    method: str | None
    expires_at: float
    offline: bool = True
    used: bool = False


class OAuthError(Exception):
    """A rejected grant; `reason` is mapped to each provider's own error body."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def pkce_s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OAuth:
    """Clients, issued access/refresh tokens, authorization codes (with PKCE) and the log of
    grants, plus the test switches (fail the next refreshes, deny the next consents)."""

    def __init__(self, store: Store, options: StoreOptions) -> None:
        self.store = store
        self.clients = dict(options.clients)
        self.access_ttl = options.access_ttl
        self.refresh_ttl = options.refresh_ttl
        self.access: dict[str, Token] = {}
        self.refresh: dict[str, Token] = {}
        self.codes: dict[str, AuthCode] = {}
        self.grants: list[dict[str, Any]] = []
        self.fail_refresh = 0
        self.deny_authorization = 0
        for value in options.access_tokens:
            self.add_access(value, None)
        for value in options.refresh_tokens:
            self.add_refresh(value, expires=False)

    # tokens
    def add_access(self, value: str, expires_in: float | None, client_id: str | None = None) -> Token:
        now = self.store.now()
        expires_at = None if expires_in is None else now + float(expires_in)
        token = Token(value, "access", client_id, "", now, expires_at)
        self.access[value] = token
        return token

    def add_refresh(
        self, value: str, client_id: str | None = None, scope: str = "", expires: bool = True
    ) -> Token:
        """A refresh token; pre-issued ones (expires=False) never expire, minted ones live refresh_ttl."""
        now = self.store.now()
        expires_at = None if self.refresh_ttl is None or not expires else now + self.refresh_ttl
        token = Token(value, "refresh", client_id, scope, now, expires_at)
        self.refresh[value] = token
        return token

    def access_status(self, value: str | None) -> str:
        """ "ok", "missing", "invalid", "expired" or "revoked"."""
        if not value:
            return "missing"
        token = self.access.get(value)
        if token is None:
            return "invalid"
        if token.revoked:
            return "revoked"
        if token.expires_at is not None and token.expires_at <= self.store.now():
            return "expired"
        return "ok"

    def _value(self, kind: str) -> str:
        prefix = self.store.provider.token_prefixes[0 if kind == "access" else 1]
        return prefix + secrets.token_urlsafe(24)

    def issue(
        self,
        client_id: str,
        grant_type: str,
        scope: str = "",
        *,
        refresh: Token | None = None,
        new_refresh: bool = False,
        ttl: float | None = None,
    ) -> tuple[Token, Token | None]:
        """A fresh access token (and a new refresh token if asked), logged as a grant."""
        access = self.add_access(self._value("access"), ttl or self.access_ttl, client_id)
        access.scope = scope
        if new_refresh:
            refresh = self.add_refresh(self._value("refresh"), client_id, scope)
        self.grants.append(
            {
                "grant_type": grant_type,
                "client_id": client_id,
                "access_token": access.value,
                "refresh_token": refresh.value if refresh else None,
                "expires_in": int(ttl or self.access_ttl),
                "at": iso(self.store.now()),
            }
        )
        return access, refresh

    # clients and grants
    def check_client(self, client_id: str | None, secret: str | None) -> None:
        if not client_id or client_id not in self.clients:
            raise OAuthError("unknown_client")
        if secret is not None and self.clients[client_id] != secret:
            raise OAuthError("bad_secret")

    def use_refresh(self, value: str | None, client_id: str) -> Token:
        """The refresh token behind a refresh grant, or OAuthError (including an injected one)."""
        if self.fail_refresh > 0:
            self.fail_refresh -= 1
            raise OAuthError("injected")
        token = self.refresh.get(value or "")
        if token is None or (token.client_id not in (None, client_id)):
            raise OAuthError("invalid_refresh")
        if token.revoked:
            raise OAuthError("revoked_refresh")
        if token.expires_at is not None and token.expires_at <= self.store.now():
            raise OAuthError("expired_refresh")
        return token

    def new_code(
        self,
        client_id: str,
        redirect_uri: str | None,
        scope: str = "",
        challenge: str | None = None,
        method: str | None = None,
        *,
        offline: bool = True,
        code: str | None = None,
    ) -> AuthCode:
        if challenge and (method or "plain").upper() not in ("S256", "PLAIN"):
            raise SeedError("code_challenge_method must be S256 or plain")
        value = code or secrets.token_urlsafe(18)
        method = (method or "plain").upper() if challenge else None
        entry = AuthCode(
            value, client_id, redirect_uri, scope, challenge, method, self.store.now() + CODE_TTL, offline
        )
        self.codes[value] = entry
        return entry

    def redeem(
        self, code: str | None, client_id: str, redirect_uri: str | None, verifier: str | None
    ) -> AuthCode:
        """Checks code, client, redirect_uri and the PKCE verifier; a code works once."""
        entry = self.codes.get(code or "")
        if entry is None or entry.client_id != client_id:
            raise OAuthError("unknown_code")
        if entry.used:
            raise OAuthError("used_code")
        if entry.expires_at <= self.store.now():
            raise OAuthError("expired_code")
        if entry.redirect_uri is not None and redirect_uri != entry.redirect_uri:
            raise OAuthError("redirect_mismatch")
        if entry.challenge:
            if not verifier:
                raise OAuthError("missing_verifier")
            computed = pkce_s256(verifier) if entry.method == "S256" else verifier
            if not secrets.compare_digest(computed, entry.challenge):
                raise OAuthError("bad_verifier")
        entry.used = True
        return entry

    def expire(self, value: str | None = None) -> int:
        if value is None:
            tokens = list(self.access.values())
        else:
            tokens = [self.access[value]] if value in self.access else []
        for token in tokens:
            token.expires_at = self.store.now() - 1
        return len(tokens)

    def revoke(self, value: str) -> bool:
        token = self.access.get(value) or self.refresh.get(value)
        if token is not None:
            token.revoked = True
        return token is not None

    def state(self) -> dict[str, Any]:
        now = self.store.now()

        def describe(token: Token) -> dict[str, Any]:
            expired = token.expires_at is not None and token.expires_at <= now
            return {
                "token": token.value,
                "client_id": token.client_id,
                "expires_at": iso(token.expires_at) if token.expires_at else None,
                "expired": expired,
                "revoked": token.revoked,
            }

        refreshes = [g for g in self.grants if g["grant_type"] in ("refresh_token", "fb_exchange_token")]
        return {
            "clients": sorted(self.clients),
            "access_tokens": [describe(t) for t in self.access.values()],
            "refresh_tokens": [describe(t) for t in self.refresh.values()],
            "codes": [
                {"code": c.code, "client_id": c.client_id, "used": c.used} for c in self.codes.values()
            ],
            "grants": self.grants,
            "issued": len(self.grants),
            "refreshes": len(refreshes),
            "fail_refresh": self.fail_refresh,
            "deny_authorization": self.deny_authorization,
        }


def client_credentials(request: web.Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """client_id/client_secret from the form or from HTTP Basic auth (RFC 6749 §2.3.1)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("basic "):
        try:
            raw = base64.b64decode(header[6:].strip()).decode()
            client_id, _, secret = raw.partition(":")
            return client_id, secret
        except (ValueError, UnicodeDecodeError):
            return None, None
    return form.get("client_id"), form.get("client_secret")


def authorization_redirect(
    store: Store, params: dict[str, str], deny: dict[str, str], code_param: str = "code"
) -> web.StreamResponse:
    """A consent screen that always says yes (or no, when a denial was queued): redirects to
    redirect_uri with code and state, registering code_challenge for the later exchange."""
    oauth = store.oauth
    client_id, redirect_uri = params.get("client_id"), params.get("redirect_uri")
    if not client_id or client_id not in oauth.clients or not redirect_uri:
        return web.json_response(
            {"error": "invalid_client", "error_description": "unknown client"}, status=400
        )
    query: dict[str, str] = {}
    if oauth.deny_authorization > 0:
        oauth.deny_authorization -= 1
        query.update(deny)
    else:
        entry = oauth.new_code(
            client_id,
            redirect_uri,
            params.get("scope", ""),
            params.get("code_challenge"),
            params.get("code_challenge_method"),
            offline=params.get("access_type", "offline") == "offline",
        )
        query[code_param] = entry.code
    if "state" in params:
        query["state"] = params["state"]
    target = URL(redirect_uri).update_query(query)
    raise web.HTTPFound(str(target))


# --- the store -------------------------------------------------------------------------------


class Store:
    def __init__(self, provider: Provider, options: StoreOptions) -> None:
        self.provider = provider
        self.options = options
        self.reset()

    def reset(self) -> None:
        self.accounts: dict[str, Account] = {}
        self.campaigns: dict[str, Campaign] = {}
        self.budgets: dict[str, dict[str, Any]] = {}
        self.metrics: dict[str, dict[str, MetricRow]] = {}
        self.requests: Counter[str] = Counter()
        self.failures: list[Failure] = []
        self.delays: list[Delay] = []
        self.clock_offset = 0.0
        self.extra: dict[str, Any] = {}
        self._ids = itertools.count(self.provider.first_id)
        self.oauth = OAuth(self, self.options)
        if self.options.seed:
            apply_seed(self, self.options.seed)

    # time
    def now(self) -> float:
        return time.time() + self.clock_offset

    def today(self) -> date:
        return datetime.fromtimestamp(self.now(), UTC).date()

    # ids and lookups
    def next_id(self) -> str:
        while True:
            value = str(next(self._ids))
            if value not in self.campaigns and value not in self.budgets and value not in self.accounts:
                return value

    def campaigns_of(self, account_id: str) -> list[Campaign]:
        found = [c for c in self.campaigns.values() if c.account_id == account_id]
        return sorted(found, key=lambda c: int(c.id) if c.id.isdigit() else c.id)

    def rows(self, campaign_id: str, since: str | None = None, until: str | None = None) -> list[MetricRow]:
        by_date = self.metrics.get(campaign_id, {})
        return [
            by_date[d]
            for d in sorted(by_date)
            if (since is None or d >= since) and (until is None or d <= until)
        ]

    def ensure_account(self, account_id: str) -> Account:
        if account_id not in self.accounts:
            self.accounts[account_id] = Account(account_id, f"Account {account_id}")
        return self.accounts[account_id]

    def add_campaign(self, campaign: Campaign) -> Campaign:
        self.campaigns[campaign.id] = campaign
        if self.provider.on_new_campaign:
            self.provider.on_new_campaign(self, campaign)
        return campaign

    # controls
    def take_failure(self, request: web.Request) -> Failure | None:
        for failure in self.failures:
            if failure.matches(request):
                if failure.count is not None:
                    failure.count -= 1
                    if failure.count <= 0:
                        self.failures.remove(failure)
                return failure
        return None

    def take_delay(self, path: str) -> float:
        for delay in self.delays:
            if path.startswith(delay.path_prefix):
                if delay.count is not None:
                    delay.count -= 1
                    if delay.count <= 0:
                        self.delays.remove(delay)
                return delay.seconds
        return 0.0

    def state(self, include_metrics: bool = True) -> dict[str, Any]:
        metric_rows = [asdict(row) for by_date in self.metrics.values() for row in by_date.values()]
        return {
            "provider": self.provider.name,
            "now": iso(self.now()),
            "accounts": [asdict(a) for a in self.accounts.values()],
            "campaigns": [asdict(c) for c in self.campaigns.values()],
            "budgets": list(self.budgets.values()),
            "metrics": metric_rows if include_metrics else [],
            "metric_rows": len(metric_rows),
            "requests": dict(self.requests),
            "failures": [asdict(f) for f in self.failures],
            "delays": [asdict(d) for d in self.delays],
            "oauth": self.oauth.state(),
            "extra": self.extra,
        }


STORE = web.AppKey("ads_store", Store)


def store_of(request: web.Request) -> Store:
    return request.app[STORE]


# --- small conversions -----------------------------------------------------------------------


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat()


def decimal(value: Any, what: str = "value") -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise SeedError(f"{what} must be a number, got {value!r}") from exc
    if not result.is_finite():
        raise SeedError(f"{what} must be finite")
    return result


def parse_date(value: Any) -> date:
    """YYYY-MM-DD (or the basic YYYYMMDD form Google also accepts)."""
    text = str(value).strip()
    try:
        if len(text) == 8 and text.isdigit():
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        return date.fromisoformat(text)
    except ValueError as exc:
        raise SeedError(f"invalid date {value!r}") from exc


def clean_id(value: Any) -> str:
    """Strips the provider decorations from an id: act_123, customers/123, 123-456-7890,
    urn:li:sponsoredCampaign:123 all become the bare number."""
    text = str(value).strip().rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return text.removeprefix("act_").replace("-", "")


def minor_unit_factor(currency: str) -> int:
    """How many minor units make one currency unit (Meta budgets are in minor units)."""
    return 1 if currency.upper() in ZERO_DECIMAL_CURRENCIES else 100


def json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def dumps(data: Any) -> str:
    return json.dumps(data, default=json_default)


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, headers=headers, dumps=dumps)


def daterange(start: date, end: date) -> Iterable[date]:
    for offset in range((end - start).days + 1):
        yield start + timedelta(days=offset)


# --- seeding ---------------------------------------------------------------------------------


def apply_seed(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise SeedError("seed body must be a JSON object")
    for raw in body.get("accounts", []):
        seed_account(store, raw)
    for raw in body.get("campaigns", []):
        seed_campaign(store, raw)
    for raw in body.get("metrics", []):
        seed_metric(store, raw)
    generated = generate(store, body["generate"]) if body.get("generate") else None
    for raw in body.get("access_tokens", []):
        value, expires_in = (raw, None) if isinstance(raw, str) else (raw["token"], raw.get("expires_in"))
        store.oauth.add_access(value, expires_in)
    for raw in body.get("refresh_tokens", []):
        store.oauth.add_refresh(raw, expires=False)
    store.oauth.clients.update(body.get("clients", {}))
    result: dict[str, Any] = {
        "accounts": len(store.accounts),
        "campaigns": len(store.campaigns),
        "metric_rows": sum(len(v) for v in store.metrics.values()),
    }
    if generated:
        result["generated"] = generated
    return result


def seed_account(store: Store, raw: dict[str, Any]) -> Account:
    if "id" not in raw:
        raise SeedError("every account needs an id")
    account_id = clean_id(raw["id"])
    known = {"id", "name", "currency", "timezone", "status", "manager_id", "manager", "business_id"}
    account = Account(
        id=account_id,
        name=str(raw.get("name", f"Account {account_id}")),
        currency=str(raw.get("currency", "USD")).upper(),
        timezone=str(raw.get("timezone", "UTC")),
        status=str(raw.get("status", "ACTIVE")).upper(),
        manager_id=clean_id(raw["manager_id"]) if raw.get("manager_id") else None,
        manager=bool(raw.get("manager", False)),
        business_id=str(raw["business_id"]) if raw.get("business_id") else None,
        extra={k: v for k, v in raw.items() if k not in known},
    )
    store.accounts[account_id] = account
    return account


def seed_campaign(store: Store, raw: dict[str, Any]) -> Campaign:
    if "account_id" not in raw:
        raise SeedError("every campaign needs an account_id")
    account = store.ensure_account(clean_id(raw["account_id"]))
    campaign_id = clean_id(raw["id"]) if raw.get("id") is not None else store.next_id()
    known = {"id", "account_id", "name", "status", "daily_budget", "lifetime_budget", "objective"}
    now = store.now()
    campaign = Campaign(
        id=campaign_id,
        account_id=account.id,
        name=str(raw.get("name", f"Campaign {campaign_id}")),
        status=store.provider.status(raw.get("status", "ACTIVE")),
        daily_budget=decimal(raw["daily_budget"], "daily_budget")
        if raw.get("daily_budget") is not None
        else None,
        lifetime_budget=(
            decimal(raw["lifetime_budget"], "lifetime_budget")
            if raw.get("lifetime_budget") is not None
            else None
        ),
        objective=raw.get("objective"),
        created=now,
        updated=now,
        extra={k: v for k, v in raw.items() if k not in known},
    )
    return store.add_campaign(campaign)


def seed_metric(store: Store, raw: dict[str, Any]) -> MetricRow:
    for key in ("campaign_id", "date"):
        if key not in raw:
            raise SeedError(f"every metric row needs {key}")
    campaign_id = clean_id(raw["campaign_id"])
    campaign = store.campaigns.get(campaign_id)
    if campaign is None:
        if "account_id" not in raw:
            raise SeedError(f"metric row for unknown campaign {campaign_id} needs an account_id")
        campaign = seed_campaign(store, {"id": campaign_id, "account_id": raw["account_id"]})
    row = MetricRow(
        account_id=campaign.account_id,
        campaign_id=campaign_id,
        date=parse_date(raw["date"]).isoformat(),
        impressions=int(raw.get("impressions", 0)),
        clicks=int(raw.get("clicks", 0)),
        cost=decimal(raw.get("cost", 0), "cost"),
        conversions=float(raw.get("conversions", 0)),
        conversion_value=decimal(raw.get("conversion_value", 0), "conversion_value"),
    )
    store.metrics.setdefault(campaign_id, {})[row.date] = row
    return row


def generate(store: Store, spec: dict[str, Any]) -> dict[str, Any]:
    """N campaigns per account x D days of deterministic pseudo-random metrics (same seed,
    same numbers, whichever provider renders them): for benchmarks and the dev stack."""
    campaigns, days = int(spec.get("campaigns", 1)), int(spec.get("days", 30))
    if campaigns < 0 or days < 1:
        raise SeedError("generate needs campaigns >= 0 and days >= 1")
    end = parse_date(spec["end_date"]) if spec.get("end_date") else store.today() - timedelta(days=1)
    start = parse_date(spec["start_date"]) if spec.get("start_date") else end - timedelta(days=days - 1)
    rng = random.Random(int(spec.get("seed", 0)))
    prefix = str(spec.get("name_prefix", "Generated campaign"))
    created = 0
    for account_id in _generator_accounts(store, spec.get("accounts")):
        account = store.ensure_account(account_id)
        for index in range(campaigns):
            name = f"{prefix} {account.id}-{index + 1:04d}"
            campaign = seed_campaign(
                store,
                {
                    "account_id": account.id,
                    "name": name,
                    "status": spec.get("status", "ACTIVE"),
                    "daily_budget": rng.choice([20, 50, 100, 250]),
                },
            )
            _generate_rows(store, campaign, rng, start, end)
            created += 1
    return {"campaigns": created, "start_date": start.isoformat(), "end_date": end.isoformat()}


def _generator_accounts(store: Store, accounts: Any) -> list[str]:
    if isinstance(accounts, list):
        return [clean_id(a) for a in accounts]
    if isinstance(accounts, int):
        base = int(store.provider.default_account_id)
        return [str(base + i) for i in range(accounts)]
    return list(store.accounts) or [store.provider.default_account_id]


def _generate_rows(store: Store, campaign: Campaign, rng: random.Random, start: date, end: date) -> None:
    base = rng.randint(200, 20_000)
    ctr, cpc = rng.uniform(0.005, 0.05), rng.uniform(0.2, 3.0)
    cvr, order_value = rng.uniform(0.01, 0.1), rng.uniform(20, 200)
    by_date = store.metrics.setdefault(campaign.id, {})
    cent = Decimal("0.01")
    for day in daterange(start, end):
        impressions = int(base * rng.uniform(0.6, 1.4))
        clicks = int(impressions * ctr * rng.uniform(0.8, 1.2))
        conversions = int(clicks * cvr * rng.uniform(0.5, 1.5))
        by_date[day.isoformat()] = MetricRow(
            campaign.account_id,
            campaign.id,
            day.isoformat(),
            impressions,
            clicks,
            (Decimal(clicks) * Decimal(repr(round(cpc, 4)))).quantize(cent),
            float(conversions),
            (Decimal(conversions) * Decimal(repr(round(order_value, 2)))).quantize(cent),
        )


# --- control routes --------------------------------------------------------------------------


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except json.JSONDecodeError as exc:
        raise SeedError(f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SeedError("body must be a JSON object")
    return data


def _control(handler: Callable[[Store, dict[str, Any]], Any]) -> Callable[[web.Request], Any]:
    async def route(request: web.Request) -> web.Response:
        try:
            body = await _body(request)
            result = handler(store_of(request), body)
        except (SeedError, KeyError, TypeError, ValueError) as exc:
            return json_response({"error": str(exc)}, status=400)
        return json_response(result if result is not None else {"ok": True})

    return route


def _seed(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    return apply_seed(store, body)


def _fail(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    known = {"path_prefix", "status", "count", "method", "retry_after"}
    count = body.get("count", 1)
    failure = Failure(
        path_prefix=str(body.get("path_prefix", "/")),
        status=int(body.get("status", store.provider.failure_status)),
        count=None if count is None or int(count) < 0 else int(count),
        method=body.get("method"),
        retry_after=float(body.get("retry_after", 30)),
        options={k: v for k, v in body.items() if k not in known},
    )
    store.failures.append(failure)
    return {"ok": True, "failure": asdict(failure)}


def _delay(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    count = body.get("count")
    seconds = float(body.get("seconds", 0))
    if seconds <= 0:
        store.delays.clear()
        return {"ok": True, "delays": []}
    store.delays.append(
        Delay(seconds, str(body.get("path_prefix", "/")), None if count is None else int(count))
    )
    return {"ok": True, "delays": [asdict(d) for d in store.delays]}


def _reset(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    store.reset()
    return {"ok": True}


def _clock(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    store.clock_offset += float(body.get("advance", 0))
    return {"now": iso(store.now()), "offset": store.clock_offset}


def _code(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    client_id = body.get("client_id") or next(iter(store.oauth.clients))
    entry = store.oauth.new_code(
        client_id,
        body.get("redirect_uri"),
        body.get("scope", ""),
        body.get("code_challenge"),
        body.get("code_challenge_method", "S256" if body.get("code_challenge") else None),
        code=body.get("code"),
    )
    return {"code": entry.code, "client_id": client_id, "expires_in": int(CODE_TTL)}


def _fail_refresh(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    store.oauth.fail_refresh = int(body.get("count", 1))
    return {"fail_refresh": store.oauth.fail_refresh}


def _deny(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    store.oauth.deny_authorization = int(body.get("count", 1))
    return {"deny_authorization": store.oauth.deny_authorization}


def _expire(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    return {"expired": store.oauth.expire(body.get("token"))}


def _revoke(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    return {"revoked": store.oauth.revoke(str(body["token"]))}


def _mint(store: Store, body: dict[str, Any]) -> dict[str, Any]:
    client_id = body.get("client_id") or next(iter(store.oauth.clients))
    access, refresh = store.oauth.issue(
        client_id, "fake_mint", body.get("scope", ""), new_refresh=True, ttl=body.get("expires_in")
    )
    return {
        "access_token": access.value,
        "refresh_token": refresh.value if refresh else None,
        "expires_in": int(body.get("expires_in") or store.oauth.access_ttl),
    }


async def _state(request: web.Request) -> web.Response:
    include = request.query.get("include_metrics", "true").lower() not in ("0", "false", "no")
    return json_response(store_of(request).state(include_metrics=include))


CONTROLS: dict[str, Callable[[Store, dict[str, Any]], Any]] = {
    "seed": _seed,
    "fail": _fail,
    "delay": _delay,
    "reset": _reset,
    "clock": _clock,
    "oauth/code": _code,
    "oauth/fail_refresh": _fail_refresh,
    "oauth/deny": _deny,
    "oauth/expire": _expire,
    "oauth/revoke": _revoke,
    "oauth/tokens": _mint,
}


def add_controls(app: web.Application) -> None:
    """The `/_fake/*` routes every ad fake shares (see the module docstring)."""
    for name, handler in CONTROLS.items():
        app.router.add_post(CONTROL_PREFIX + name, _control(handler))
    app.router.add_get(CONTROL_PREFIX + "state", _state)


@web.middleware
async def controls_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Counts every provider request (method + path), then applies injected delays and
    failures before the real handler runs. Control routes pass straight through."""
    if request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    store = store_of(request)
    store.requests[f"{request.method} {request.path}"] += 1
    delay = store.take_delay(request.path)
    if delay:
        await asyncio.sleep(delay)
    failure = store.take_failure(request)
    if failure is not None:
        return store.provider.failure_response(request, failure)
    return await handler(request)


def new_app(provider: Provider, options: StoreOptions, middlewares: Iterable[Any] = ()) -> web.Application:
    """An application holding a fresh Store, with the shared middleware and control routes."""
    app = web.Application(middlewares=[*middlewares, controls_middleware])
    app[STORE] = Store(provider, options)
    add_controls(app)
    return app


def paged_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset:{offset}".encode()).decode().rstrip("=")


def parse_cursor(cursor: str) -> int | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    if not text.startswith("offset:") or not text[7:].isdigit():
        return None
    return int(text[7:])
