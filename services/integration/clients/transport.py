"""HTTP to the ad platforms: timeouts, retries, the providers' own wait hints, and one circuit
breaker per (provider, account).

Why per account: a platform usually fails one account at a time (a throttled Meta ad account, a
Google customer in trouble), and one tenant's broken account must not stop every other tenant's
syncs. Why the hints: Google (`quotaErrorDetails.retryDelay`), Meta (`X-Business-Use-Case-Usage`
`estimated_time_to_regain_access`) and LinkedIn (`Retry-After`) say how long to stay away, and
calling earlier only extends the penalty. A hint longer than the backoff cap is not slept through
in-line: the call fails at once as `rate_limited` with `retry_after`, for the caller to schedule.

Each connector hands in a classifier that reads its provider's error shape; every final failure
leaves as a `ProviderError` whose message carries no token or secret of the request.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pybreaker

from services.integration.clients.base import OAuthApp, ProblemKind, ProviderError, TokenSet
from shared.http import retry_after_seconds

log = logging.getLogger(__name__)

META_THROTTLE_CODES = frozenset({4, 17, 32, 613, 80000, 80001, 80002, 80003, 80004, 80005, 80006, 80008})
SENSITIVE_FIELDS = frozenset(
    {"access_token", "refresh_token", "client_secret", "code", "code_verifier", "fb_exchange_token"}
)
SENSITIVE_HEADERS = ("authorization", "developer-token")
# Errors raised before the request left this process: resending can never act twice.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class TransportSettings:
    """Timeouts, retries (full jitter: uniform(0, min(cap, base * 2**attempt))) and breaker."""

    timeout: float = 30.0
    connect_timeout: float = 10.0
    retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    fail_max: int = 5
    reset_timeout: float = 60.0


@dataclass(frozen=True)
class Failure:
    """What a classifier reads from a failed answer."""

    kind: ProblemKind
    message: str
    retry_after: float | None = None


Classifier = Callable[[httpx.Response], Failure]


class ProviderTransport:
    """One provider's HTTP client. `request` returns a 2xx answer or raises ProviderError."""

    def __init__(
        self,
        provider: str,
        classify: Classifier,
        settings: TransportSettings | None = None,
        *,
        http_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.provider = provider
        self.settings = settings or TransportSettings()
        self._classify = classify
        self._breakers: dict[str, pybreaker.CircuitBreaker] = {}
        timeout = httpx.Timeout(self.settings.timeout, connect=self.settings.connect_timeout)
        self._http = httpx.AsyncClient(timeout=timeout, transport=http_transport)

    async def request(
        self, method: str, url: str, *, account: str, idempotent: bool = True, **kwargs: Any
    ) -> httpx.Response:
        """Send with retries under the account's breaker. A non-idempotent call (a create) is
        resent only when the provider surely did not act on it: a 429, or no connection made."""
        breaker = self.breaker(account)
        secrets = _secrets_of(kwargs)
        try:
            with breaker.calling():
                return await self._with_retries(method, url, account, idempotent, secrets, kwargs)
        except pybreaker.CircuitBreakerError:
            message = f"{self.provider}: circuit open for this account after repeated failures"
            raise ProviderError("unavailable", message, _remaining(breaker)) from None

    def breaker(self, account: str) -> pybreaker.CircuitBreaker:
        found = self._breakers.get(account)
        if found is None:
            found = pybreaker.CircuitBreaker(
                fail_max=self.settings.fail_max,
                reset_timeout=self.settings.reset_timeout,
                exclude=[_not_an_outage],
                name=f"{self.provider}:{account}",
                throw_new_error_on_trip=False,
            )
            self._breakers[account] = found
        return found

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _with_retries(
        self,
        method: str,
        url: str,
        account: str,
        idempotent: bool,
        secrets: list[str],
        kwargs: dict[str, Any],
    ) -> httpx.Response:
        for attempt in range(self.settings.retries + 1):
            try:
                response = await self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                failure = Failure("unavailable", f"unreachable ({type(exc).__name__})")
                resend = idempotent or isinstance(exc, NOT_SENT)
            else:
                if response.is_success:
                    return response
                failure = self._classify(response)
                resend = failure.kind == "rate_limited" or (failure.kind == "unavailable" and idempotent)
            wait = self._wait(attempt, failure) if resend else None
            if wait is None or attempt == self.settings.retries:
                raise _error(self.provider, failure, secrets)
            log.warning(
                "provider call retried",
                extra={"provider": self.provider, "account": account, "kind": failure.kind, "wait": wait},
            )
            await asyncio.sleep(wait)
        raise AssertionError("unreachable")

    def _wait(self, attempt: int, failure: Failure) -> float | None:
        """Seconds before the next attempt, or None to give up now (the provider asked for a
        longer pause than we are willing to hold a worker for)."""
        hint = failure.retry_after
        if hint is not None and hint > self.settings.backoff_cap:
            return None
        if hint:
            return hint
        return random.uniform(0, min(self.settings.backoff_cap, self.settings.backoff_base * 2**attempt))


def _not_an_outage(exc: BaseException) -> bool:
    """Answers that prove the provider is up (auth, validation) and cancellations never trip."""
    if isinstance(exc, ProviderError):
        return exc.kind in ("auth", "rejected")
    return isinstance(exc, asyncio.CancelledError)


def _remaining(breaker: pybreaker.CircuitBreaker) -> float:
    opened_at = breaker._state_storage.opened_at
    if opened_at is None:
        return breaker.reset_timeout
    left = breaker.reset_timeout - (datetime.now(UTC) - opened_at).total_seconds()
    return max(0.0, left)


def _secrets_of(kwargs: Mapping[str, Any]) -> list[str]:
    """Every token or secret a request carries, to keep them out of error messages."""
    found: list[str] = []
    headers = httpx.Headers(kwargs.get("headers") or {})
    for name in SENSITIVE_HEADERS:
        value = headers.get(name)
        if value:
            found.extend([value, value.partition(" ")[2]])
    for part in ("data", "params"):
        values = kwargs.get(part)
        if isinstance(values, Mapping):
            found.extend(str(v) for k, v in values.items() if k in SENSITIVE_FIELDS and v)
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def _error(provider: str, failure: Failure, secrets: list[str]) -> ProviderError:
    message = failure.message[:500]
    for secret in secrets:
        message = message.replace(secret, "***")
    return ProviderError(failure.kind, f"{provider}: {message}", failure.retry_after)


# --- reading answers ---------------------------------------------------------------------------


def json_of(response: httpx.Response) -> Any:
    """A success answer's JSON; a malformed one is the provider's fault, so retry later."""
    try:
        return response.json()
    except ValueError:
        raise ProviderError("unavailable", "provider answered malformed JSON") from None


def numeric(value: str, provider: str) -> str:
    """An account or campaign id spliced into a path or query: ASCII digits only."""
    if not re.fullmatch(r"[0-9]{1,24}", value):
        raise ProviderError("rejected", f"{provider}: ids are numeric")
    return value


def same_origin(url: str, base_url: str) -> bool:
    """Paging links are followed (with our token) only on the provider's own origin."""
    link, base = httpx.URL(url), httpx.URL(base_url)
    return (link.scheme, link.host, link.port) == (base.scheme, base.host, base.port)


def token_set(body: Any, refresh_fallback: str | None) -> TokenSet:
    """A token endpoint's answer; providers that do not rotate refresh tokens omit it, and the
    one the caller holds stays valid."""
    access = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(access, str) or not access:
        raise ProviderError("unavailable", "token endpoint answered without an access_token")
    expires_in = body.get("expires_in")
    expires_at = (
        datetime.now(UTC) + timedelta(seconds=int(expires_in)) if str(expires_in or "").isdigit() else None
    )
    return TokenSet(access, body.get("refresh_token") or refresh_fallback, expires_at)


class TokenEndpoint:
    """A provider's OAuth 2.0 token URL, posted to as a form: the authorization-code grant with
    PKCE (RFC 6749 §4.1.3, RFC 7636) and the refresh grant (§6), or a provider's own forms."""

    def __init__(self, http: ProviderTransport, url: str) -> None:
        self._http = http
        self.url = url

    async def post(self, form: dict[str, str], *, idempotent: bool) -> Any:
        response = await self._http.request(
            "POST", self.url, account="oauth", idempotent=idempotent, data=form
        )
        return json_of(response)

    async def exchange_code(self, app: OAuthApp, code: str, code_verifier: str) -> TokenSet:
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": code_verifier,
            "redirect_uri": app.redirect_uri,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        }
        return token_set(await self.post(form, idempotent=False), None)

    async def refresh(self, app: OAuthApp, refresh_token: str) -> TokenSet:
        """Providers that keep the refresh token omit it from the answer: the one given stays."""
        form = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": app.client_id,
            "client_secret": app.client_secret,
        }
        return token_set(await self.post(form, idempotent=True), refresh_token)


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def google_retry_delay(body: Mapping[str, Any]) -> float | None:
    """`error.details[].errors[].details.quotaErrorDetails.retryDelay` ("3s", "0.5s"): the longest."""
    delays: list[float] = []
    for detail in body.get("error", {}).get("details", []) or []:
        for error in detail.get("errors", []) or []:
            delay = str(error.get("details", {}).get("quotaErrorDetails", {}).get("retryDelay", ""))
            if re.fullmatch(r"\d+(\.\d+)?s", delay):
                delays.append(float(delay[:-1]))
    return max(delays) if delays else None


def meta_regain_seconds(response: httpx.Response) -> float | None:
    """The longest `estimated_time_to_regain_access` (minutes) in `X-Business-Use-Case-Usage`."""
    try:
        usage = json.loads(response.headers.get("x-business-use-case-usage", "{}"))
    except ValueError:
        return None
    minutes = [
        float(entry.get("estimated_time_to_regain_access") or 0)
        for entries in (usage.values() if isinstance(usage, dict) else [])
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, dict)
    ]
    return max(minutes) * 60 if minutes else None


# --- classifiers ---------------------------------------------------------------------------------


def by_status(status: int, message: str, retry_after: float | None = None) -> Failure:
    """The HTTP meaning when the provider's body says nothing more specific."""
    if status == 401:
        return Failure("auth", message)
    if status == 429:
        return Failure("rate_limited", message, retry_after)
    if status >= 500 or status == 408:
        return Failure("unavailable", message, retry_after)
    return Failure("rejected", message)


def _oauth_failure(response: httpx.Response, body: Mapping[str, Any]) -> Failure:
    """RFC 6749 token errors: a dead grant means the user must consent again."""
    message = f"{body['error']}: {body.get('error_description', '')}".rstrip(": ")
    if body["error"] == "invalid_grant":
        return Failure("auth", message)
    return by_status(response.status_code, message, retry_after_seconds(response.headers.get("retry-after")))


def classify_google(response: httpx.Response) -> Failure:
    body = _body(response)
    if isinstance(body.get("error"), str):
        return _oauth_failure(response, body)
    error = body.get("error") or {}
    message = _google_message(error) or response.reason_phrase
    if response.status_code == 401 or error.get("status") == "UNAUTHENTICATED":
        return Failure("auth", message)
    if response.status_code == 429 or error.get("status") == "RESOURCE_EXHAUSTED":
        hint = google_retry_delay(body)
        return Failure(
            "rate_limited",
            message,
            hint if hint is not None else retry_after_seconds(response.headers.get("retry-after")),
        )
    return by_status(response.status_code, message, retry_after_seconds(response.headers.get("retry-after")))


def _google_message(error: Mapping[str, Any]) -> str:
    """The first GoogleAdsError (`CODE: message`), else the envelope's message."""
    for detail in error.get("details", []) or []:
        for item in detail.get("errors", []) or []:
            codes = list((item.get("errorCode") or {}).values())
            return f"{codes[0] if codes else 'ERROR'}: {item.get('message', '')}"
    return str(error.get("message", ""))


def classify_meta(response: httpx.Response) -> Failure:
    body = _body(response)
    if isinstance(body.get("error"), str):
        return _oauth_failure(response, body)
    error = body.get("error") or {}
    code = error.get("code")
    message = f"({code}) {error.get('message', response.reason_phrase)}"
    if code == 190:
        return Failure("auth", message)
    if code in META_THROTTLE_CODES or response.status_code == 429:
        hint = meta_regain_seconds(response)
        return Failure(
            "rate_limited", message, hint or retry_after_seconds(response.headers.get("retry-after"))
        )
    if error.get("is_transient") or response.status_code >= 500:
        return Failure("unavailable", message, retry_after_seconds(response.headers.get("retry-after")))
    return by_status(response.status_code, message)


def classify_linkedin(response: httpx.Response) -> Failure:
    body = _body(response)
    if isinstance(body.get("error"), str):
        return _oauth_failure(response, body)
    message = str(body.get("message") or response.reason_phrase)
    if body.get("code"):
        message = f"{body['code']}: {message}"
    return by_status(response.status_code, message, retry_after_seconds(response.headers.get("retry-after")))
