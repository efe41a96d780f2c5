"""Fake Twilio Programmable Messaging (REST API 2010-04-01): send SMS, fetch and list messages, and
signed status callbacks.

Wire format as documented by Twilio: HTTP Basic auth `AccountSid:AuthToken`; form-encoded `To`,
`From` or `MessagingServiceSid`, `Body`, `StatusCallback`; answers are the JSON Message resource
(snake_case, RFC 2822 dates, `num_segments` as a string, `price` null until sent); errors are
`{"code", "message", "more_info", "status"}`. Status callbacks are form POSTs (`MessageSid`,
`MessageStatus`, `AccountSid`, `From`, `To`, `ApiVersion`, `SmsSid`, `SmsStatus`, `ErrorCode`)
signed `X-Twilio-Signature: base64(HMAC-SHA1(AuthToken, url + name1 + value1 + ...))`, params
sorted by name.

API: `POST|GET /2010-04-01/Accounts/{AccountSid}/Messages.json`,
`GET /2010-04-01/Accounts/{AccountSid}/Messages/{MessageSid}.json`.
Controls (no auth): `GET /_fake/state`, `POST /_fake/reset`, `POST /_fake/fail`,
`POST /_fake/recipients` {"number", "outcome": "delivered"|"undelivered"|"failed"|"unsubscribed",
"error_code"?} to script what happens to messages for a number.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import math
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from fakes._server import FailRule, failure_control, json_object, run_cli, take_failure

DEFAULT_PORT = 8096
DEFAULT_ACCOUNT_SID = "AC" + "0" * 28 + "fa4e"  # 34 characters, like every Account SID
DEFAULT_AUTH_TOKEN = "fake_twilio_auth_token_000000000"  # 32 characters
API = "2010-04-01"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
DEFAULT_SERVICE_NUMBER = "+15005550006"
OUTCOMES = ("delivered", "undelivered", "failed", "unsubscribed")
DEFAULT_ERROR = {"undelivered": 30003, "failed": 30008}
# GSM 03.38 basic set and the extension table (whose characters take two septets).
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXT = set("^{}\\[~]|€\f")


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """Twilio's request signature: the full URL, then each param's name and value, sorted by name."""
    data = url + "".join(f"{k}{v}" for k, v in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def segments(body: str) -> int:
    if all(c in GSM_BASIC or c in GSM_EXT for c in body):
        units, single, multi = sum(2 if c in GSM_EXT else 1 for c in body), 160, 153
    else:
        units, single, multi = len(body.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else math.ceil(units / multi)


class TwilioError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> web.Response:
        body = {
            "code": self.code,
            "message": self.message,
            "more_info": f"https://www.twilio.com/docs/errors/{self.code}",
            "status": self.status,
        }
        headers = {"WWW-Authenticate": 'Basic realm="Twilio API"'} if self.status == 401 else None
        return web.json_response(body, status=self.status, headers=headers)


class TwilioState:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_numbers: Iterable[str] | None,
        recipients: Mapping[str, Mapping[str, Any]] | None,
    ) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_numbers = set(from_numbers) if from_numbers is not None else None
        self.initial_recipients = {k: dict(v) for k, v in (recipients or {}).items()}
        self.reset()

    def reset(self) -> None:
        self.messages: dict[str, dict[str, Any]] = {}
        self.callbacks: list[dict[str, Any]] = []
        self.recipients: dict[str, dict[str, Any]] = {k: dict(v) for k, v in self.initial_recipients.items()}
        self.fail_rules: list[FailRule] = []

    def snapshot(self) -> dict[str, Any]:
        return {
            "account_sid": self.account_sid,
            "messages": list(self.messages.values()),
            "callbacks": self.callbacks,
            "recipients": self.recipients,
            "fail_rules": [vars(r) for r in self.fail_rules],
        }


STATE = web.AppKey("twilio_state", TwilioState)
HTTP = web.AppKey("twilio_http", aiohttp.ClientSession)
TASKS = web.AppKey("twilio_tasks", set)
OPTIONS = web.AppKey("twilio_options", dict)


def state_of(request: web.Request) -> TwilioState:
    return request.app[STATE]


def _now() -> str:
    return format_datetime(datetime.now(UTC).replace(microsecond=0))


@web.middleware
async def middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    rule = take_failure(state_of(request).fail_rules, request.path)
    if rule is not None:
        if rule.status == 429:
            return TwilioError(429, 20429, "Too Many Requests").response()
        return TwilioError(rule.status, 20500, "Internal Server Error (injected)").response()
    try:
        if request.path.startswith(f"/{API}/"):
            _authenticate(request)
        return await handler(request)
    except TwilioError as exc:
        return exc.response()
    except web.HTTPNotFound:
        return TwilioError(404, 20404, f"The requested resource {request.path} was not found").response()


def _authenticate(request: web.Request) -> None:
    st = state_of(request)
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    user = password = ""
    if scheme.lower() == "basic":
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            user, _, password = base64.b64decode(value).decode().partition(":")
    ok = hmac.compare_digest(user, st.account_sid) and hmac.compare_digest(password, st.auth_token)
    if not ok or request.match_info.get("account") not in (None, st.account_sid):
        raise TwilioError(401, 20003, "Authenticate")


def _uri(st: TwilioState, sid: str) -> str:
    return f"/{API}/Accounts/{st.account_sid}/Messages/{sid}.json"


async def create_message(request: web.Request) -> web.Response:
    st = state_of(request)
    form = await request.post()
    to, from_, service = form.get("To"), form.get("From"), form.get("MessagingServiceSid")
    body, callback = form.get("Body"), form.get("StatusCallback")
    media = form.getall("MediaUrl", [])
    if not to:
        raise TwilioError(400, 21604, "A 'To' phone number is required.")
    if not isinstance(to, str) or not E164.match(to):
        raise TwilioError(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if not from_ and not service:
        raise TwilioError(
            400, 21603, "A 'From' or 'MessagingServiceSid' parameter is required to send a message."
        )
    if service and not re.fullmatch(r"MG[0-9a-f]{32}", str(service)):
        raise TwilioError(400, 21701, f"The Messaging Service Sid {service} is invalid.")
    if from_ and (
        not E164.match(str(from_)) or (st.from_numbers is not None and from_ not in st.from_numbers)
    ):
        raise TwilioError(
            400,
            21606,
            f"The From phone number {from_} is not a valid, SMS-capable inbound phone number or short code "
            "for your account.",
        )
    if from_ == to:
        raise TwilioError(400, 21266, "'To' and 'From' number cannot be the same")
    if not body and not media:
        raise TwilioError(400, 21602, "Message body is required.")
    body = str(body or "")
    if len(body) > 1600:
        raise TwilioError(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    if callback and not re.match(r"^https?://[^\s/]+", str(callback)):
        raise TwilioError(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
    outcome = st.recipients.get(to, {})
    if outcome.get("outcome") == "unsubscribed":
        raise TwilioError(400, 21610, "Attempt to send to unsubscribed recipient")
    sid = "SM" + secrets.token_hex(16)
    now = _now()
    message = {
        "account_sid": st.account_sid,
        "api_version": API,
        "body": body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": from_ or None,
        "messaging_service_sid": service or None,
        "num_media": str(len(media)),
        "num_segments": str(segments(body)),
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "accepted" if service and not from_ else "queued",
        "subresource_uris": {"media": f"/{API}/Accounts/{st.account_sid}/Messages/{sid}/Media.json"},
        "to": to,
        "uri": _uri(st, sid),
    }
    st.messages[sid] = message
    task = asyncio.create_task(_progress(request.app, message, str(callback) if callback else None))
    request.app[TASKS].add(task)
    task.add_done_callback(request.app[TASKS].discard)
    return web.json_response(message, status=201)


async def _progress(app: web.Application, message: dict[str, Any], callback: str | None) -> None:
    """queued -> sent -> delivered (or failed / sent -> undelivered), with a callback for each step."""
    st = app[STATE]
    script = st.recipients.get(message["to"], {})
    outcome = script.get("outcome", "delivered")
    steps = ["failed"] if outcome == "failed" else ["sent", outcome]
    delay = app[OPTIONS]["callback_delay"]
    for status in steps:
        await asyncio.sleep(delay)
        message["status"] = status
        message["date_updated"] = _now()
        if message["from"] is None:
            message["from"] = app[OPTIONS]["service_number"]
        if status == "sent":
            message["date_sent"] = message["date_updated"]
            message["price"] = f"-{0.0079 * int(message['num_segments']):.5f}"
        error_code = None
        if status in ("failed", "undelivered"):
            error_code = int(script.get("error_code") or DEFAULT_ERROR[status])
            message["error_code"] = error_code
            message["error_message"] = "Unreachable destination handset" if error_code == 30003 else None
        if callback:
            await _callback(app, callback, message, status, error_code)


async def _callback(
    app: web.Application, url: str, message: Mapping[str, Any], status: str, error_code: int | None
) -> None:
    st = app[STATE]
    params = {
        "AccountSid": st.account_sid,
        "ApiVersion": API,
        "From": message["from"],
        "MessageSid": message["sid"],
        "MessageStatus": status,
        "SmsSid": message["sid"],
        "SmsStatus": status,
        "To": message["to"],
    }
    if message["messaging_service_sid"]:
        params["MessagingServiceSid"] = message["messaging_service_sid"]
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    sig = signature(st.auth_token, url, params.items())
    record: dict[str, Any] = {"url": url, "params": params, "signature": sig, "status": None, "error": None}
    try:
        async with app[HTTP].post(
            url,
            data=urlencode(params),
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Twilio-Signature": sig,
                "I-Twilio-Idempotency-Token": secrets.token_hex(16),
                "User-Agent": "TwilioProxy/1.1",
            },
            timeout=aiohttp.ClientTimeout(total=15),
        ) as resp:
            record["status"] = resp.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
    st.callbacks.append(record)


async def get_message(request: web.Request) -> web.Response:
    st = state_of(request)
    message = st.messages.get(request.match_info["sid"])
    if message is None:
        raise TwilioError(404, 20404, f"The requested resource {request.path} was not found")
    return web.json_response(message)


async def list_messages(request: web.Request) -> web.Response:
    st = state_of(request)
    q = request.query
    messages = list(reversed(st.messages.values()))  # newest first, as Twilio lists them
    for param, field_name in (("To", "to"), ("From", "from")):
        if param in q:
            messages = [m for m in messages if m[field_name] == q[param]]
    try:
        page_size = max(1, min(1000, int(q.get("PageSize", 50))))
        page = max(0, int(q.get("Page", 0)))
    except ValueError:
        raise TwilioError(400, 20001, "Invalid paging parameter") from None
    start = page * page_size
    chunk = messages[start : start + page_size]
    base = f"/{API}/Accounts/{st.account_sid}/Messages.json"

    def page_uri(n: int) -> str:
        return f"{base}?PageSize={page_size}&Page={n}"

    return web.json_response(
        {
            "messages": chunk,
            "start": start,
            "end": start + max(0, len(chunk) - 1),
            "page": page,
            "page_size": page_size,
            "uri": page_uri(page),
            "first_page_uri": page_uri(0),
            "next_page_uri": page_uri(page + 1) if start + page_size < len(messages) else None,
            "previous_page_uri": page_uri(page - 1) if page > 0 else None,
        }
    )


async def fake_state(request: web.Request) -> web.Response:
    return web.json_response(state_of(request).snapshot())


async def fake_reset(request: web.Request) -> web.Response:
    for task in list(request.app[TASKS]):
        task.cancel()
    state_of(request).reset()
    return web.json_response({"ok": True})


async def fake_recipients(request: web.Request) -> web.Response:
    data = await json_object(request)
    number, outcome = data.get("number"), data.get("outcome", "delivered")
    if not number or outcome not in OUTCOMES:
        raise web.HTTPBadRequest(text=f"need number and outcome in {OUTCOMES}")
    entry = {"outcome": outcome, "error_code": data.get("error_code")}
    state_of(request).recipients[number] = entry
    return web.json_response({"number": number, **entry})


def make_app(
    *,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    auth_token: str = DEFAULT_AUTH_TOKEN,
    from_numbers: Iterable[str] | None = None,
    recipients: Mapping[str, Mapping[str, Any]] | None = None,
    callback_delay: float = 0.05,
    service_number: str = DEFAULT_SERVICE_NUMBER,
) -> web.Application:
    """`from_numbers`: the account's sender numbers (None accepts any E.164 From). `recipients` maps a
    number to {"outcome": "undelivered"|"failed"|"unsubscribed"|"delivered", "error_code": 30003}.
    `callback_delay`: seconds before each status change. `service_number`: the From a Messaging
    Service picks."""
    app = web.Application(middlewares=[middleware])
    app[STATE] = TwilioState(account_sid, auth_token, from_numbers, recipients)
    app[TASKS] = set()
    app[OPTIONS] = {"callback_delay": callback_delay, "service_number": service_number}

    async def lifecycle(app: web.Application) -> Any:
        app[HTTP] = aiohttp.ClientSession()
        yield
        for task in list(app[TASKS]):
            task.cancel()
        await asyncio.gather(*app[TASKS], return_exceptions=True)
        await app[HTTP].close()

    app.cleanup_ctx.append(lifecycle)
    base = f"/{API}/Accounts/{{account}}"
    app.router.add_post(f"{base}/Messages.json", create_message)
    app.router.add_get(f"{base}/Messages.json", list_messages)
    app.router.add_get(f"{base}/Messages/{{sid}}.json", get_message)
    app.router.add_get("/_fake/state", fake_state)
    app.router.add_post("/_fake/reset", fake_reset)
    app.router.add_post("/_fake/fail", failure_control(lambda r: state_of(r).fail_rules))
    app.router.add_post("/_fake/recipients", fake_recipients)
    return app


def main() -> None:
    run_cli("twilio", make_app, DEFAULT_PORT)


if __name__ == "__main__":
    main()
