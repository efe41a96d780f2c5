"""The fake Twilio SMS API through plain httpx and the official `twilio` library, with status
callbacks whose `X-Twilio-Signature` is checked by an independent implementation of Twilio's
algorithm and by the library's `RequestValidator`."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest
from aiohttp import web
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from fakes._server import FakeServer
from fakes.twilio import make_app

SID = "AC" + "1234567890abcdef" * 2
TOKEN = "test_auth_token_for_the_fake"
SENDER = "+15017122661"
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"
# The twilio library's async client still passes aiohttp's deprecated BasicAuth.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:twilio.*")


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Written from Twilio's docs ("Validating requests"), independent of the fake's code."""
    s = url
    for name in sorted(params):
        s += name + params[name]
    return base64.b64encode(hmac.new(token.encode(), s.encode(), hashlib.sha1).digest()).decode()


class Callbacks:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        app = web.Application()
        app.router.add_post("/sms/status", self.status)
        self.server = FakeServer(app)

    async def status(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.received.append(
            {
                "url": str(request.url),
                "params": {k: str(v) for k, v in form.items()},
                "signature": request.headers.get("X-Twilio-Signature"),
                "content_type": request.content_type,
            }
        )
        return web.Response(status=204)

    def url(self, query: str = "?tenant=t1") -> str:
        return f"{self.server.url}/sms/status{query}"

    async def wait(self, n: int, timeout: float = 3.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(self.received) < n:
                await asyncio.sleep(0.01)
        return self.received


@pytest.fixture
async def fake() -> AsyncIterator[FakeServer]:
    app = make_app(
        account_sid=SID,
        auth_token=TOKEN,
        from_numbers=[SENDER],
        recipients={"+15005550009": {"outcome": "undelivered", "error_code": 30003}},
        callback_delay=0.01,
    )
    async with FakeServer(app) as server:
        yield server


@pytest.fixture
async def http(fake: FakeServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=fake.url, auth=(SID, TOKEN), timeout=5) as client:
        yield client


@pytest.fixture
async def callbacks() -> AsyncIterator[Callbacks]:
    cb = Callbacks()
    async with cb.server:
        yield cb


async def test_send_sms_then_signed_status_callbacks(http: httpx.AsyncClient, callbacks: Callbacks) -> None:
    r = await http.post(
        MESSAGES,
        data={
            "To": "+14155550123",
            "From": SENDER,
            "Body": "Your report is ready",
            "StatusCallback": callbacks.url(),
        },
    )
    assert r.status_code == 201
    msg = r.json()
    assert msg["sid"].startswith("SM") and len(msg["sid"]) == 34
    assert msg["account_sid"] == SID and msg["status"] == "queued" and msg["direction"] == "outbound-api"
    assert (msg["to"], msg["from"], msg["body"]) == ("+14155550123", SENDER, "Your report is ready")
    assert msg["num_segments"] == "1" and msg["price"] is None and msg["api_version"] == "2010-04-01"
    assert msg["uri"] == f"/2010-04-01/Accounts/{SID}/Messages/{msg['sid']}.json"
    assert parsedate_to_datetime(msg["date_created"]).tzinfo is not None  # RFC 2822

    received = await callbacks.wait(2)
    assert [c["params"]["MessageStatus"] for c in received] == ["sent", "delivered"]
    validator = RequestValidator(TOKEN)
    for cb in received:
        assert cb["content_type"] == "application/x-www-form-urlencoded"
        assert cb["params"]["MessageSid"] == msg["sid"] and cb["params"]["AccountSid"] == SID
        assert cb["params"]["To"] == "+14155550123" and cb["params"]["From"] == SENDER
        assert "ErrorCode" not in cb["params"]
        assert cb["url"] == callbacks.url()  # the signed URL keeps its query string
        assert cb["signature"] == twilio_signature(TOKEN, cb["url"], cb["params"])
        assert validator.validate(cb["url"], cb["params"], cb["signature"])
        assert not validator.validate(cb["url"], {**cb["params"], "MessageStatus": "read"}, cb["signature"])

    fetched = (await http.get(f"/2010-04-01/Accounts/{SID}/Messages/{msg['sid']}.json")).json()
    assert fetched["status"] == "delivered" and fetched["date_sent"] and fetched["price"].startswith("-")


async def test_undelivered_and_failed_numbers_report_error_codes(
    http: httpx.AsyncClient, callbacks: Callbacks
) -> None:
    await http.post("/_fake/recipients", json={"number": "+14155550999", "outcome": "failed"})
    for to in ("+15005550009", "+14155550999"):
        r = await http.post(
            MESSAGES, data={"To": to, "From": SENDER, "Body": "hi", "StatusCallback": callbacks.url("")}
        )
        assert r.status_code == 201
    received = await callbacks.wait(3)
    by_to: dict[str, list[tuple[str, str | None]]] = {}
    for cb in received:
        p = cb["params"]
        by_to.setdefault(p["To"], []).append((p["MessageStatus"], p.get("ErrorCode")))
        assert cb["signature"] == twilio_signature(TOKEN, cb["url"], p)
    assert by_to == {
        "+15005550009": [("sent", None), ("undelivered", "30003")],
        "+14155550999": [("failed", "30008")],
    }


async def test_auth_and_validation_errors_use_twilio_shape(http: httpx.AsyncClient, fake: FakeServer) -> None:
    async with httpx.AsyncClient(base_url=fake.url, auth=(SID, "wrong")) as bad:
        r = await bad.post(MESSAGES, data={"To": "+14155550123", "From": SENDER, "Body": "x"})
    assert r.status_code == 401
    assert r.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    cases = [
        ({"To": "4155550123", "From": SENDER, "Body": "x"}, 21211),
        ({"From": SENDER, "Body": "x"}, 21604),
        ({"To": "+14155550123", "Body": "x"}, 21603),
        ({"To": "+14155550123", "From": SENDER}, 21602),
        ({"To": "+14155550123", "From": "+19999999999", "Body": "x"}, 21606),
        ({"To": "+14155550123", "From": SENDER, "Body": "x" * 1601}, 21617),
    ]
    for data, code in cases:
        r = await http.post(MESSAGES, data=data)
        assert (r.status_code, r.json()["code"]) == (400, code), data
    await http.post("/_fake/recipients", json={"number": "+14155550100", "outcome": "unsubscribed"})
    r = await http.post(MESSAGES, data={"To": "+14155550100", "From": SENDER, "Body": "x"})
    assert (r.status_code, r.json()["code"]) == (400, 21610)
    r = await http.get(f"/2010-04-01/Accounts/{SID}/Messages/SM{'0' * 32}.json")
    assert (r.status_code, r.json()["code"]) == (404, 20404)
    assert (await http.get("/_fake/state")).json()["messages"] == []


async def test_official_twilio_client_against_the_fake(fake: FakeServer) -> None:
    async with AsyncTwilioHttpClient() as http_client:
        client = Client(SID, TOKEN, http_client=http_client)
        client.api.base_url = fake.url  # the library's only knob for its API host
        long_unicode = "Привет! " * 9  # 72 UCS-2 units: two segments
        msg = await client.messages.create_async(to="+14155550123", from_=SENDER, body=long_unicode)
        assert msg.sid.startswith("SM") and msg.status == "queued" and msg.num_segments == "2"
        assert msg.date_created is not None and msg.date_created.year >= 2024  # parsed from RFC 2822
        fetched = await client.messages(msg.sid).fetch_async()
        assert fetched.body == long_unicode
        with pytest.raises(TwilioRestException) as err:
            await client.messages.create_async(to="not-a-number", from_=SENDER, body="x")
        assert err.value.code == 21211 and err.value.status == 400
        service = "MG" + "ab" * 16
        queued = await client.messages.create_async(
            to="+14155550123", messaging_service_sid=service, body="x"
        )
        assert queued.status == "accepted" and queued.messaging_service_sid == service


async def test_failure_injection_and_listing(http: httpx.AsyncClient) -> None:
    await http.post("/_fake/fail", json={"path_prefix": "/2010-04-01/", "status": 503, "count": 1})
    data = {"To": "+14155550123", "From": SENDER, "Body": "retry me"}
    first = await http.post(MESSAGES, data=data)
    assert first.status_code == 503 and first.json()["status"] == 503
    assert (await http.post(MESSAGES, data=data)).status_code == 201
    await http.post(MESSAGES, data={**data, "To": "+14155550124"})
    page = (await http.get(MESSAGES, params={"PageSize": 1, "To": "+14155550123"})).json()
    assert len(page["messages"]) == 1 and page["messages"][0]["body"] == "retry me"
    assert page["next_page_uri"] is None and page["page_size"] == 1
    assert (await http.post("/_fake/reset")).status_code == 200
    assert (await http.get("/_fake/state")).json()["messages"] == []
