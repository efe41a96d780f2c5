"""The channel clients against the provider fakes, run as real servers on 127.0.0.1: mail reaches the
catcher (plain and STARTTLS), SMS the Twilio fake (whose signed status callbacks we verify), push the
Web Push fake (which checks VAPID and decrypts); and each provider's refusals come back as permanent or
transient `DeliveryError`s the retry policy can act on."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import ssl
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization

from fakes._server import FakeServer
from fakes.smtp import MailCatcher
from fakes.twilio import make_app as twilio_app
from fakes.webpush import make_app as webpush_app
from services.notification.clients.email import OutgoingEmail, SmtpSender, SmtpSettings
from services.notification.clients.failover import Failover
from services.notification.clients.push import (
    WebPushSender,
    generate_vapid_private_key,
    public_key_b64url,
)
from services.notification.clients.sms import TwilioSender, verify_twilio_signature
from services.notification.domain.retry import DeliveryError

FROM = "alerts@bizosaas.example"
UNSUBSCRIBE = "<mailto:unsub@bizosaas.example?subject=u-42>, <https://bizosaas.example/u/42>"
SID = "AC" + "0123456789abcdef" * 2
TOKEN = "channel_test_twilio_auth_token"
SENDER = "+15017122661"
SUBJECT = "mailto:ops@bizosaas.example"


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def smtp_sender(port: int, **settings: Any) -> SmtpSender:
    tls_context = settings.pop("tls_context", None)
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "timeout": 5.0,
        "from_address": FROM,
        "from_name": "Agência Zoë",
    }
    return SmtpSender(SmtpSettings(**{**base, **settings}), tls_context=tls_context)


def note(to: str = "lead@client.example") -> OutgoingEmail:
    return OutgoingEmail(
        to=to,
        subject="Your weekly report",
        text="Hello,\nclicks are up 12% this week.\n",
        html="<p>Hello, clicks are <b>up 12%</b> this week.</p>",
        headers={"List-Unsubscribe": UNSUBSCRIBE, "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )


@pytest.fixture
async def mail() -> AsyncIterator[MailCatcher]:
    async with MailCatcher() as catcher:
        yield catcher


# --- email -----------------------------------------------------------------------------------


async def test_multipart_email_with_unsubscribe_headers_arrives(mail: MailCatcher) -> None:
    message_id = await smtp_sender(mail.smtp_port).send(note())

    caught = await mail.next_message()
    assert caught.envelope_from == FROM and caught.envelope_to == ["lead@client.example"]
    assert caught.email.get_content_type() == "multipart/alternative"
    assert caught.text == "Hello,\nclicks are up 12% this week.\n"
    assert caught.html is not None and "<b>up 12%</b>" in caught.html
    (sender,) = caught.email["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Agência Zoë", FROM)
    assert caught.header("Message-ID") == message_id and message_id.endswith("@bizosaas.example>")
    # A long value may be folded right after the colon (valid RFC 5322; unfolding leaves a space).
    assert (caught.header("List-Unsubscribe") or "").strip() == UNSUBSCRIBE
    assert caught.header("List-Unsubscribe-Post") == "List-Unsubscribe=One-Click"
    assert caught.header("Date") and caught.subject == "Your weekly report"


async def test_starttls_with_auth_and_the_password_never_shows() -> None:
    async with MailCatcher(credentials={"mailer": "s3cret-pw"}, starttls=True, require_starttls=True) as mail:
        assert mail.tls_cert_pem is not None
        trusted = ssl.create_default_context(cadata=mail.tls_cert_pem.decode())
        settings: dict[str, Any] = {"security": "starttls", "username": "mailer", "password": "s3cret-pw"}

        message_id = await smtp_sender(mail.smtp_port, tls_context=trusted, **settings).send(note())
        caught = await mail.next_message()
        assert caught.tls is True and caught.auth_user == "mailer"
        assert caught.header("Message-ID") == message_id

        untrusting = smtp_sender(mail.smtp_port, **settings)  # the system CAs don't know the fake's cert
        with pytest.raises(DeliveryError) as tls_error:
            await untrusting.send(note())
        assert not tls_error.value.permanent
        wrong = smtp_sender(mail.smtp_port, tls_context=trusted, **{**settings, "password": "wrong-pw"})
        with pytest.raises(DeliveryError) as auth_error:
            await wrong.send(note())
        assert auth_error.value.permanent and auth_error.value.status == "failed"  # 535
        for shown in (
            str(tls_error.value),
            str(auth_error.value),
            repr(untrusting),
            repr(untrusting.settings),
        ):
            assert "s3cret-pw" not in shown and "wrong-pw" not in shown


async def test_smtp_refusals_are_classified(mail: MailCatcher) -> None:
    sender = smtp_sender(mail.smtp_port)
    mail.reject(r"nobody@client\.example")
    mail.reject(r".*@slow\.example", temporary=True)
    mail.reject(r"spam@client\.example", stage="data", code=554, message="5.7.1 Rejected as spam")
    mail.reject(r".*", stage="mail", code=452, message="4.3.1 Insufficient storage", count=1)

    cases = {  # address -> (permanent, status): each its own transaction
        "first@client.example": (False, "failed"),  # 452 at MAIL (once)
        "nobody@client.example": (True, "bounced"),  # 550 at RCPT
        "a@slow.example": (False, "failed"),  # 451 at RCPT
        "spam@client.example": (True, "failed"),  # 554 at DATA
    }
    for to, expected in cases.items():
        with pytest.raises(DeliveryError) as refused:
            await sender.send(note(to))
        assert (refused.value.permanent, refused.value.status) == expected, to
    assert mail.messages == []

    closed = smtp_sender(free_port())
    with pytest.raises(DeliveryError) as unreachable:
        await closed.send(note())
    assert not unreachable.value.permanent


async def test_send_many_keeps_going_past_a_refused_recipient(mail: MailCatcher) -> None:
    mail.reject(r"nobody@client\.example")
    outcomes = await smtp_sender(mail.smtp_port).send_many(
        [note("a@client.example"), note("nobody@client.example"), note("b@client.example")]
    )
    first, refused, last = outcomes
    assert isinstance(refused, DeliveryError) and refused.status == "bounced"
    assert [m.header("Message-ID") for m in mail.messages] == [first, last]
    assert [m.envelope_to for m in mail.messages] == [["a@client.example"], ["b@client.example"]]


# --- SMS -------------------------------------------------------------------------------------


class CallbackReceiver:
    """Stands in for our status-callback route: keeps what the provider posts, as it arrived."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, str], str | None]] = []
        app = web.Application()
        app.router.add_post("/sms/status", self.status)
        self.server = FakeServer(app)

    async def status(self, request: web.Request) -> web.Response:
        form = await request.post()
        params = {k: str(v) for k, v in form.items()}
        self.received.append((str(request.url), params, request.headers.get("X-Twilio-Signature")))
        return web.Response(status=204)

    async def wait(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.received) < count:
                await asyncio.sleep(0.01)


@pytest.fixture
async def twilio() -> AsyncIterator[FakeServer]:
    app = twilio_app(account_sid=SID, auth_token=TOKEN, from_numbers=[SENDER], callback_delay=0.01)
    async with FakeServer(app) as server:
        yield server


@pytest.fixture
async def callbacks() -> AsyncIterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    async with receiver.server:
        yield receiver


async def test_sms_is_sent_and_its_signed_callbacks_verify(
    twilio: FakeServer, callbacks: CallbackReceiver
) -> None:
    callback_url = f"{callbacks.server.url}/sms/status?tenant=t1"
    sms = TwilioSender(twilio.url, SID, TOKEN, SENDER, callback_url, timeout=5)
    assert TOKEN not in repr(sms)

    sid = await sms.send("+14155550123", "Your report is ready")

    async with httpx.AsyncClient(base_url=twilio.url) as http:
        (message,) = (await http.get("/_fake/state")).json()["messages"]
    assert message["sid"] == sid and sid.startswith("SM")
    assert (message["to"], message["from"], message["body"]) == (
        "+14155550123",
        SENDER,
        "Your report is ready",
    )
    await callbacks.wait(2)
    for url, params, signature in callbacks.received:
        assert url == callback_url and params["MessageSid"] == sid
        assert verify_twilio_signature(url, params, signature, TOKEN)
        assert sms.verify_callback(url, params, signature)
        assert not verify_twilio_signature(url, {**params, "MessageStatus": "read"}, signature, TOKEN)
        assert not verify_twilio_signature(url.replace("t1", "t2"), params, signature, TOKEN)
        assert not verify_twilio_signature(url, params, signature, "another-token")
        assert not verify_twilio_signature(url, params, None, TOKEN)
    assert [p["MessageStatus"] for _, p, _ in callbacks.received] == ["sent", "delivered"]


async def test_sms_refusals_are_classified(twilio: FakeServer) -> None:
    sms = TwilioSender(twilio.url, SID, TOKEN, SENDER, None, timeout=5)
    async with httpx.AsyncClient(base_url=twilio.url) as http:
        await http.post("/_fake/recipients", json={"number": "+14155550777", "outcome": "unsubscribed"})
    for to, code in (("12345", "21211"), ("+14155550777", "21610")):
        with pytest.raises(DeliveryError) as bounced:
            await sms.send(to, "hi")
        assert bounced.value.permanent and bounced.value.status == "bounced", to
        assert code in str(bounced.value)

    bad_token = TwilioSender(twilio.url, SID, "not-the-token", SENDER, None, timeout=5)
    with pytest.raises(DeliveryError) as unauthorized:  # 401: the token is wrong, not the number
        await bad_token.send("+14155550123", "hi")
    assert unauthorized.value.permanent and unauthorized.value.status == "failed"
    assert "not-the-token" not in str(unauthorized.value)


async def test_sms_outages_are_transient(twilio: FakeServer) -> None:
    sms = TwilioSender(twilio.url, SID, TOKEN, SENDER, None, timeout=5)
    async with httpx.AsyncClient(base_url=twilio.url) as http:
        await http.post("/_fake/fail", json={"path_prefix": "/2010-04-01/", "status": 503, "count": 2})
    for _ in range(2):
        with pytest.raises(DeliveryError) as unavailable:
            await sms.send("+14155550123", "hi")
        assert not unavailable.value.permanent
        assert unavailable.value.retry_after is None  # this fake's 503 carries no Retry-After
    assert (await sms.send("+14155550123", "hi")).startswith("SM")

    with pytest.raises(DeliveryError) as unreachable:
        await TwilioSender(f"http://127.0.0.1:{free_port()}", SID, TOKEN, SENDER).send("+14155550123", "hi")
    assert not unreachable.value.permanent


async def test_sms_throttling_honours_retry_after() -> None:
    """Twilio's 429 carries Retry-After; the fake has no such rule, so a two-line server plays it."""

    async def throttled(request: web.Request) -> web.Response:
        body = {"code": 20429, "message": "Too Many Requests", "status": 429}
        return web.json_response(body, status=429, headers={"Retry-After": "30"})

    app = web.Application()
    app.router.add_post("/2010-04-01/Accounts/{sid}/Messages.json", throttled)
    async with FakeServer(app) as server:
        with pytest.raises(DeliveryError) as limited:
            await TwilioSender(server.url, SID, TOKEN, SENDER).send("+14155550123", "hi")
    assert not limited.value.permanent and limited.value.retry_after == 30.0


# --- Web Push --------------------------------------------------------------------------------


@pytest.fixture
async def push_service() -> AsyncIterator[httpx.AsyncClient]:
    async with FakeServer(webpush_app()) as server, httpx.AsyncClient(base_url=server.url) as http:
        yield http


async def subscribe(http: httpx.AsyncClient, application_server_key: str) -> dict[str, Any]:
    r = await http.post("/_fake/subscriptions", json={"application_server_key": application_server_key})
    assert r.status_code == 201
    return dict(r.json())


async def test_push_is_delivered_and_decrypts_to_the_payload(push_service: httpx.AsyncClient) -> None:
    key = generate_vapid_private_key()
    sender = WebPushSender(key, SUBJECT, timeout=5)
    assert sender.application_server_key == public_key_b64url(key)
    subscription = await subscribe(push_service, public_key_b64url(key))
    payload = {"title": "Campaign sent", "body": "Reached 1,204 contacts ✓", "url": "/c/42"}

    await sender.send(subscription, payload, ttl=3600)

    sub_id = subscription["endpoint"].rsplit("/", 1)[1]
    (message,) = (await push_service.get(f"/_fake/subscriptions/{sub_id}/messages")).json()
    assert message["decrypt_error"] is None and json.loads(message["plaintext"]) == payload
    assert message["ttl"] == 3600 and message["vapid"]["sub"] == SUBJECT
    assert key not in repr(sender)


async def test_push_refusals_are_classified(push_service: httpx.AsyncClient) -> None:
    key = generate_vapid_private_key()
    sender = WebPushSender(key, SUBJECT, timeout=5)
    subscription = await subscribe(push_service, public_key_b64url(key))
    sub_id = subscription["endpoint"].rsplit("/", 1)[1]

    await push_service.post("/_fake/fail", json={"path_prefix": "/push/", "status": 503, "count": 1})
    with pytest.raises(DeliveryError) as unavailable:
        await sender.send(subscription, {"n": 1})
    assert not unavailable.value.permanent and unavailable.value.retry_after == 1.0

    with pytest.raises(DeliveryError) as too_large:  # 413
        await sender.send(subscription, {"blob": "x" * 5000})
    assert too_large.value.permanent and too_large.value.status == "failed"

    other_key = WebPushSender(generate_vapid_private_key(), SUBJECT, timeout=5)
    with pytest.raises(DeliveryError) as forbidden:  # 403: subscribed with another applicationServerKey
        await other_key.send(subscription, {"n": 2})
    assert forbidden.value.permanent and forbidden.value.status == "failed"

    await push_service.post(f"/_fake/subscriptions/{sub_id}/expire")
    with pytest.raises(DeliveryError) as expired:  # 410
        await sender.send(subscription, {"n": 3})
    assert expired.value.permanent and expired.value.status == "bounced"
    await push_service.delete(f"/_fake/subscriptions/{sub_id}")
    with pytest.raises(DeliveryError) as unknown:  # 404
        await sender.send(subscription, {"n": 4})
    assert unknown.value.permanent and unknown.value.status == "bounced"


def test_vapid_key_forms_agree() -> None:
    """PEM, base64url DER and the raw scalar of one key give the same applicationServerKey."""
    pem = generate_vapid_private_key()
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    raw = key.private_numbers().private_value.to_bytes(32, "big")  # type: ignore[union-attr]
    forms = [pem, base64.urlsafe_b64encode(der).decode().rstrip("="), base64.urlsafe_b64encode(raw).decode()]
    public = {public_key_b64url(form) for form in forms}
    assert len(public) == 1 and len(base64.urlsafe_b64decode(public.pop() + "=")) == 65


# --- failover --------------------------------------------------------------------------------


async def test_failover_moves_on_after_a_temporary_refusal_only() -> None:
    async with MailCatcher() as primary, MailCatcher() as backup:
        relays: Failover[SmtpSender] = Failover(
            [smtp_sender(primary.smtp_port), smtp_sender(backup.smtp_port)]
        )

        primary.reject(r".*", temporary=True, count=1)
        message_id, index = await relays.run(lambda s: s.send(note("a@client.example")))
        assert index == 1 and primary.messages == []
        assert [m.header("Message-ID") for m in backup.messages] == [message_id]

        primary.reject(r"nobody@client\.example")
        with pytest.raises(DeliveryError) as bounced:
            await relays.run(lambda s: s.send(note("nobody@client.example")))
        assert bounced.value.status == "bounced" and len(backup.messages) == 1  # not tried elsewhere

        backup.reject(r".*", temporary=True, count=1)
        primary.reject(r".*", temporary=True, count=1)
        with pytest.raises(DeliveryError) as both_down:
            await relays.run(lambda s: s.send(note("b@client.example")))
        assert not both_down.value.permanent and "2 providers" in str(both_down.value)
        _, index = await relays.run(lambda s: s.send(note("b@client.example")))
        assert index == 0
