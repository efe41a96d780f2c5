"""SMS through Twilio's Programmable Messaging REST API (2010-04-01), or any provider speaking its shape,
and the check of Twilio's signature on the delivery-status callbacks it posts back.

Failures become `DeliveryError`s: 429, 5xx, timeouts and connection errors are transient (honouring
`Retry-After`); a 400 whose Twilio error code says the number can never take SMS (invalid, not
mobile, unreachable, opted out with STOP) is permanent "bounced", so the caller stops texting it; any
other 4xx (bad credentials, a sender not on the account) is permanent "failed".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import httpx

from services.notification.domain.retry import DeliveryError
from shared.http import retry_after_seconds

API_VERSION = "2010-04-01"
# Twilio error codes meaning "this recipient number will not take SMS from us", see
# https://www.twilio.com/docs/api/errors: 21211 invalid To, 21214 To cannot be reached, 21401 invalid
# number, 21407 number type without SMS, 21421 invalid PhoneNumber, 21610 recipient replied STOP,
# 21612 To not reachable via SMS, 21614 To is not a mobile number.
BOUNCE_CODES = frozenset({21211, 21214, 21401, 21407, 21421, 21610, 21612, 21614})


def twilio_signature(url: str, params: Mapping[str, str], auth_token: str) -> str:
    """`X-Twilio-Signature`: base64(HMAC-SHA1(auth token, full URL + each POST param's name and value,
    sorted by name)). The URL is the one Twilio posted to, query string included."""
    data = url + "".join(f"{name}{params[name]}" for name in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def verify_twilio_signature(
    url: str, params: Mapping[str, str], signature_header: str | None, auth_token: str
) -> bool:
    """Whether a status callback really comes from the provider (constant-time comparison, so the
    signature cannot be found byte by byte from response timings)."""
    if not signature_header:
        return False
    expected = twilio_signature(url, params, auth_token)
    return hmac.compare_digest(expected.encode(), signature_header.encode())


def _twilio_error(response: httpx.Response) -> tuple[int | None, str]:
    """Twilio's error body `{"code", "message", "more_info", "status"}`, or the raw text."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return None, response.text[:200]
    try:
        code = int(body["code"])
    except (KeyError, TypeError, ValueError):
        code = None
    return code, str(body.get("message", ""))


def classify_response(response: httpx.Response) -> DeliveryError:
    """The `DeliveryError` for a non-2xx answer of the Messages endpoint."""
    code, message = _twilio_error(response)
    text = f"Twilio {response.status_code}" + (f" (error {code})" if code else "") + f": {message}"
    status = response.status_code
    if status == 429 or status == 408 or status >= 500:
        return DeliveryError(
            text, permanent=False, retry_after=retry_after_seconds(response.headers.get("retry-after"))
        )
    if status == 400 and code in BOUNCE_CODES:
        return DeliveryError(text, permanent=True, status="bounced")
    return DeliveryError(text, permanent=True)


class TwilioSender:
    """Sends SMS from one account and number. `http` lets the container share one connection pool;
    without it each send opens its own client."""

    def __init__(
        self,
        base_url: str,
        account_sid: str,
        auth_token: str,
        from_number: str,
        status_callback_url: str | None = None,
        timeout: float = 10.0,
        *,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.from_number = from_number
        self.status_callback_url = status_callback_url
        self.timeout = timeout
        self._http = http

    def __repr__(self) -> str:  # the auth token stays out of logs
        return f"TwilioSender({self.base_url!r}, account_sid={self.account_sid!r}, from={self.from_number!r})"

    @property
    def messages_url(self) -> str:
        return f"{self.base_url}/{API_VERSION}/Accounts/{self.account_sid}/Messages.json"

    def verify_callback(self, url: str, params: Mapping[str, str], signature_header: str | None) -> bool:
        """`verify_twilio_signature` with this account's token."""
        return verify_twilio_signature(url, params, signature_header, self._auth_token)

    async def send(self, to: str, body: str, *, status_callback: str | None = None) -> str:
        """Queue one SMS; returns the message SID (delivery is reported later, by status callback:
        `status_callback` for this message, else the sender's)."""
        form = {"To": to, "From": self.from_number, "Body": body}
        callback = status_callback or self.status_callback_url
        if callback:
            form["StatusCallback"] = callback
        auth = httpx.BasicAuth(self.account_sid, self._auth_token)
        try:
            if self._http is not None:
                response = await self._http.post(
                    self.messages_url, data=form, auth=auth, timeout=self.timeout
                )
            else:
                async with httpx.AsyncClient(timeout=self.timeout) as client:
                    response = await client.post(self.messages_url, data=form, auth=auth)
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"Twilio: timed out after {self.timeout} s", permanent=False) from exc
        except httpx.TransportError as exc:
            raise DeliveryError(f"Twilio: {type(exc).__name__}: {exc}", permanent=False) from exc
        if response.status_code >= 300:
            raise classify_response(response)
        try:
            sid = response.json()["sid"]
        except (ValueError, KeyError, TypeError) as exc:
            # Accepted but unreadable: sending again could text the person twice, so don't retry.
            raise DeliveryError("Twilio: accepted without a message sid", permanent=True) from exc
        return str(sid)
