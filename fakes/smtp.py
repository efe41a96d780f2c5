"""Fake SMTP server (a mail catcher): aiosmtpd on 127.0.0.1 keeps every message it accepts, and a small
HTTP API shows them.

SMTP (RFC 5321): ESMTP with SMTPUTF8, optional AUTH PLAIN/LOGIN against configured credentials and
optional STARTTLS with a self-signed certificate made at start (both off by default); scripted
rejections per address pattern, at MAIL, RCPT or DATA, permanent (`550 5.1.1 User unknown`) or
temporary (`451 4.3.0 ...`), forever or N times, for retry and bounce handling tests.

HTTP (aiohttp): `GET /messages` (id, from, to, subject, date; `?to=` filters by envelope recipient),
`GET /messages/{id}` (envelope, headers, text and HTML parts, attachments, raw),
`GET /messages/{id}/raw` (message/rfc822), `GET /messages/{id}/html`, `DELETE /messages[/{id}]`,
`GET /_fake/state`, `POST /_fake/reset`, `POST /_fake/reject` {"pattern", "stage"?, "code"?, "message"?,
"count"?, "temporary"?}, `DELETE /_fake/reject`.

Tests: `with MailCatcher() as mail: ... msg = await mail.next_message()`; `python -m fakes.smtp` serves
SMTP on 8025 and HTTP on 8026.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import functools
import ipaddress
import os
import re
import secrets
import ssl
import tempfile
import threading
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from types import TracebackType
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fakes._server import FakeServer

DEFAULT_SMTP_PORT = 8025
DEFAULT_HTTP_PORT = 8026
STAGES = ("mail", "rcpt", "data")


@dataclass
class RejectRule:
    pattern: str  # a regular expression, matched in full and case-insensitively against the address
    code: int = 550
    message: str = "5.1.1 User unknown"
    stage: str = "rcpt"  # mail: the sender; rcpt and data: each recipient
    count: int | None = None  # None: every time
    fired: int = 0

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}")
        if not 400 <= self.code <= 599:
            raise ValueError("code must be a 4xx or 5xx SMTP reply code")
        self._regex = re.compile(self.pattern, re.IGNORECASE)

    def matches(self, stage: str, address: str) -> bool:
        return stage == self.stage and self.count != 0 and self._regex.fullmatch(address) is not None

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}


@dataclass
class CaughtMessage:
    id: str
    envelope_from: str
    envelope_to: list[str]
    raw: bytes
    received_at: str
    auth_user: str | None
    tls: bool
    smtputf8: bool
    peer: str | None

    @functools.cached_property
    def email(self) -> EmailMessage:
        """Parsed when first read, not on receipt: accepting mail stays cheap under load."""
        return BytesParser(policy=policy.default).parsebytes(self.raw)  # type: ignore[return-value]

    @classmethod
    def parse(cls, envelope: Envelope, session: Session) -> CaughtMessage:
        raw = envelope.original_content or b""
        auth = session.auth_data
        return cls(
            id=secrets.token_hex(8),
            envelope_from=envelope.mail_from or "",
            envelope_to=list(envelope.rcpt_tos),
            raw=raw,
            received_at=dt.datetime.now(dt.UTC).isoformat(),
            auth_user=auth.login.decode() if isinstance(auth, LoginPassword) else None,
            tls=session.ssl is not None,
            smtputf8=envelope.smtp_utf8,
            peer=str(session.peer[0]) if session.peer else None,
        )

    def header(self, name: str) -> str | None:
        value = self.email.get(name)
        return str(value) if value is not None else None

    @property
    def subject(self) -> str | None:
        return self.header("Subject")

    def _part(self, subtype: str) -> str | None:
        part = self.email.get_body(preferencelist=(subtype,))
        if part is None:
            return None
        return part.get_content().replace("\r\n", "\n")  # type: ignore[attr-defined]  # wire CRLF -> \n

    @property
    def text(self) -> str | None:
        return self._part("plain")

    @property
    def html(self) -> str | None:
        return self._part("html")

    def addresses(self, name: str) -> list[str]:
        return [addr for _, addr in getaddresses([str(v) for v in self.email.get_all(name, [])])]

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "from": self.header("From"),
            "to": self.addresses("To"),
            "envelope_to": self.envelope_to,
            "subject": self.subject,
            "date": self.header("Date"),
            "received_at": self.received_at,
        }

    def to_json(self) -> dict[str, Any]:
        attachments = [
            {
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "size": len(part.get_payload(decode=True) or b""),
            }
            for part in self.email.iter_attachments()  # type: ignore[attr-defined]
        ]
        return {
            **self.summary(),
            "envelope_from": self.envelope_from,
            "cc": self.addresses("Cc"),
            "reply_to": self.header("Reply-To"),
            "message_id": self.header("Message-ID"),
            "list_unsubscribe": self.header("List-Unsubscribe"),
            "list_unsubscribe_post": self.header("List-Unsubscribe-Post"),
            "headers": [[k, str(v)] for k, v in self.email.items()],
            "text": self.text,
            "html": self.html,
            "attachments": attachments,
            "auth_user": self.auth_user,
            "tls": self.tls,
            "smtputf8": self.smtputf8,
            "peer": self.peer,
            "size": len(self.raw),
            "raw": self.raw.decode("utf-8", errors="replace"),
        }


class MailStore:
    """Caught mail and rejection rules; mutated only on the catcher's event loop."""

    def __init__(self) -> None:
        self.messages: list[CaughtMessage] = []
        self.rules: list[RejectRule] = []
        self.rejections: list[dict[str, Any]] = []

    def reset(self) -> None:
        self.messages.clear()
        self.rules.clear()
        self.rejections.clear()

    def get(self, message_id: str) -> CaughtMessage | None:
        return next((m for m in self.messages if m.id == message_id), None)

    def check(self, stage: str, address: str) -> str | None:
        for rule in self.rules:
            if rule.matches(stage, address):
                rule.fired += 1
                if rule.count is not None:
                    rule.count -= 1
                reply = f"{rule.code} {rule.message}"
                self.rejections.append(
                    {"stage": stage, "address": address, "reply": reply, "at": time.time()}
                )
                return reply
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "messages": [m.to_json() for m in self.messages],
            "reject_rules": [r.public() for r in self.rules],
            "rejections": self.rejections,
        }


class _Handler:
    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        reply = self.store.check("mail", address)
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 2.1.0 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        reply = self.store.check("rcpt", address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        for rcpt in envelope.rcpt_tos:
            reply = self.store.check("data", rcpt)
            if reply:
                return reply
        message = CaughtMessage.parse(envelope, session)
        self.store.messages.append(message)
        return f"250 2.0.0 OK: queued as {message.id}"


class _Controller(Controller):
    """Binds port 0 and reads back the kernel's choice (no free-port race), and keeps aiosmtpd's
    'AUTH without TLS' warning quiet: the catcher allows that on purpose, for plain local tests."""

    def _create_server(self) -> Any:
        async def create() -> asyncio.AbstractServer:
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return create()

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
            return super().factory()


def self_signed_tls(hostname: str, host: str) -> tuple[ssl.SSLContext, bytes]:
    """A server SSL context with a fresh self-signed P-256 certificate, and that certificate's PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    sans: list[x509.GeneralName] = [x509.DNSName(hostname), x509.DNSName("localhost")]
    for ip in {host, "127.0.0.1"}:
        with contextlib.suppress(ValueError):
            sans.append(x509.IPAddress(ipaddress.ip_address(ip)))
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    with tempfile.TemporaryDirectory() as tmp:
        cert_file, key_file = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        with open(cert_file, "wb") as f:
            f.write(cert_pem)
        with open(key_file, "wb") as f:
            f.write(key_pem)
        ctx.load_cert_chain(cert_file, key_file)
    return ctx, cert_pem


# --- HTTP read API -----------------------------------------------------------------------

STORE = web.AppKey("mail_store", MailStore)


def _message(request: web.Request) -> CaughtMessage:
    message = request.app[STORE].get(request.match_info["id"])
    if message is None:
        raise web.HTTPNotFound(text=f"no message {request.match_info['id']}")
    return message


async def list_messages(request: web.Request) -> web.Response:
    messages = request.app[STORE].messages
    to = request.query.get("to")
    if to:
        messages = [m for m in messages if to.lower() in (a.lower() for a in m.envelope_to)]
    return web.json_response([m.summary() for m in messages])


async def get_message(request: web.Request) -> web.Response:
    return web.json_response(_message(request).to_json())


async def get_raw(request: web.Request) -> web.Response:
    return web.Response(body=_message(request).raw, content_type="message/rfc822")


async def get_html(request: web.Request) -> web.Response:
    html = _message(request).html
    if html is None:
        raise web.HTTPNotFound(text="message has no HTML part")
    return web.Response(text=html, content_type="text/html")


async def delete_messages(request: web.Request) -> web.Response:
    request.app[STORE].messages.clear()
    return web.Response(status=204)


async def delete_message(request: web.Request) -> web.Response:
    request.app[STORE].messages.remove(_message(request))
    return web.Response(status=204)


async def fake_state(request: web.Request) -> web.Response:
    return web.json_response(request.app[STORE].snapshot())


async def fake_reset(request: web.Request) -> web.Response:
    request.app[STORE].reset()
    return web.json_response({"ok": True})


async def add_reject(request: web.Request) -> web.Response:
    try:
        data = await request.json()
        temporary = bool(data.get("temporary"))
        rule = RejectRule(
            pattern=str(data["pattern"]),
            code=int(data.get("code", 451 if temporary else 550)),
            message=str(
                data.get(
                    "message",
                    "4.3.0 Temporary failure, try again later" if temporary else "5.1.1 User unknown",
                )
            ),
            stage=str(data.get("stage", "rcpt")),
            count=None if data.get("count") is None else int(data["count"]),
        )
    except (ValueError, KeyError, TypeError, re.error) as exc:
        raise web.HTTPBadRequest(text=f"bad reject rule: {exc!r}") from None
    request.app[STORE].rules.append(rule)
    return web.json_response(rule.public(), status=201)


async def clear_rejects(request: web.Request) -> web.Response:
    request.app[STORE].rules.clear()
    return web.Response(status=204)


def make_app(*, store: MailStore | None = None) -> web.Application:
    """The HTTP read API over a MailStore (a new, empty one if not given)."""
    app = web.Application()
    app[STORE] = store if store is not None else MailStore()
    app.router.add_get("/messages", list_messages)
    app.router.add_delete("/messages", delete_messages)
    app.router.add_get("/messages/{id}", get_message)
    app.router.add_delete("/messages/{id}", delete_message)
    app.router.add_get("/messages/{id}/raw", get_raw)
    app.router.add_get("/messages/{id}/html", get_html)
    app.router.add_get("/_fake/state", fake_state)
    app.router.add_post("/_fake/reset", fake_reset)
    app.router.add_post("/_fake/reject", add_reject)
    app.router.add_delete("/_fake/reject", clear_rejects)
    return app


# --- the catcher ------------------------------------------------------------------------


class MailCatcher:
    """SMTP and HTTP servers on one background thread and event loop (aiosmtpd's Controller).

    `credentials` ({user: password}) turns on required AUTH PLAIN/LOGIN; `starttls` offers STARTTLS with a
    fresh self-signed certificate (`tls_cert_pem` lets a client trust it), `require_starttls` refuses
    mail before it, and `auth_require_tls` (default: `starttls`) offers AUTH only after it. Port 0 lets the
    kernel choose; the chosen ports are in `smtp_port` and `http_port` after `start()`.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        smtp_port: int = 0,
        http_port: int = 0,
        *,
        credentials: Mapping[str, str] | None = None,
        starttls: bool = False,
        require_starttls: bool = False,
        auth_require_tls: bool | None = None,
        hostname: str = "mail.fake.test",
        data_size_limit: int = 10 * 1024 * 1024,
    ) -> None:
        self.host = host
        self.store = MailStore()
        self.credentials = dict(credentials) if credentials else None
        self.tls_cert_pem: bytes | None = None
        tls_context = None
        if starttls or require_starttls:
            tls_context, self.tls_cert_pem = self_signed_tls(hostname, host)
        self._controller = _Controller(
            _Handler(self.store),
            hostname=host,
            port=smtp_port,
            server_hostname=hostname,
            ident="BizOSaaS fake SMTP",
            enable_SMTPUTF8=True,
            decode_data=False,
            data_size_limit=data_size_limit,
            tls_context=tls_context,
            require_starttls=require_starttls,
            authenticator=self._authenticate if self.credentials else None,
            auth_required=bool(self.credentials),
            auth_require_tls=tls_context is not None if auth_require_tls is None else auth_require_tls,
        )
        self._http = FakeServer(make_app(store=self.store), host=host, port=http_port)
        self._cursor = 0
        self._started = False

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.credentials is None:
            return AuthResult(success=False, handled=False)
        user, password = auth_data.login.decode(), auth_data.password.decode()
        ok = self.credentials.get(user) == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    @property
    def smtp_port(self) -> int:
        return int(self._controller.port)

    @property
    def http_port(self) -> int:
        return int(self._http.url.rsplit(":", 1)[1]) if self._http.url else 0

    @property
    def http_url(self) -> str:
        return self._http.url

    @property
    def messages(self) -> list[CaughtMessage]:
        return list(self.store.messages)

    def _on_loop(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._controller.loop).result(10)

    def start(self) -> MailCatcher:
        self._controller.start()
        try:
            self._on_loop(self._http.start())
        except BaseException:
            self._controller.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        try:
            self._on_loop(self._http.stop())
        finally:
            self._controller.stop()

    def reject(self, pattern: str, **rule: Any) -> RejectRule:
        """Add a rejection rule from the test thread (same fields as POST /_fake/reject)."""
        temporary = rule.pop("temporary", False)
        if temporary:
            rule.setdefault("code", 451)
            rule.setdefault("message", "4.3.0 Temporary failure, try again later")
        new = RejectRule(pattern=pattern, **rule)
        self._controller.loop.call_soon_threadsafe(self.store.rules.append, new)
        return new

    def clear(self) -> None:
        """Forget caught mail, rules and rejections."""
        self._controller.loop.call_soon_threadsafe(self.store.reset)
        self._cursor = 0

    async def next_message(self, timeout: float = 5.0) -> CaughtMessage:  # noqa: ASYNC109 (fail fast by default)
        """The next message (in arrival order) not yet returned by this method; waits up to `timeout`."""
        deadline = time.monotonic() + timeout
        while len(self.store.messages) <= self._cursor:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no new message within {timeout} s")
            await asyncio.sleep(0.01)
        message = self.store.messages[self._cursor]
        self._cursor += 1
        return message

    def wait_for_messages(self, count: int, timeout: float = 5.0) -> list[CaughtMessage]:
        """Blocking: until at least `count` messages are caught (for synchronous code)."""
        deadline = time.monotonic() + timeout
        while len(self.store.messages) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.store.messages)} of {count} messages within {timeout} s")
            time.sleep(0.01)
        return self.messages

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    async def __aenter__(self) -> MailCatcher:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await asyncio.to_thread(self.stop)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m fakes.smtp")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--smtp-port", type=int, default=DEFAULT_SMTP_PORT)
    parser.add_argument("--http-port", type=int, default=DEFAULT_HTTP_PORT)
    parser.add_argument("--auth", metavar="USER:PASSWORD", help="require SMTP AUTH with these credentials")
    parser.add_argument("--starttls", action="store_true", help="offer STARTTLS (self-signed certificate)")
    args = parser.parse_args()
    credentials = dict([args.auth.split(":", 1)]) if args.auth else None
    catcher = MailCatcher(
        args.host, args.smtp_port, args.http_port, credentials=credentials, starttls=args.starttls
    ).start()
    print(
        f"fake smtp on {args.host}:{catcher.smtp_port}, caught mail on {catcher.http_url}/messages",
        flush=True,
    )
    stop = threading.Event()
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        catcher.stop()


if __name__ == "__main__":
    main()
