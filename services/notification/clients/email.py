"""Email over SMTP with aiosmtplib: one multipart/alternative message per send, failures sorted into
permanent and transient `DeliveryError`s by the SMTP reply that caused them.

Classification (RFC 5321 reply classes): a 5xx at RCPT means this address will never take mail
("bounced": stop writing to it); a 5xx elsewhere (MAIL, DATA, AUTH) means this message or this
configuration is refused ("failed"); 4xx replies, refused connections, timeouts, dropped connections
and TLS failures may clear up, so they are transient and worth another try (or another provider).
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formataddr, formatdate, getaddresses, make_msgid
from typing import Literal

import aiosmtplib

from services.notification.domain.retry import DeliveryError

Security = Literal["none", "starttls", "ssl"]
# Headers the sender writes itself; a caller's `headers` may not replace them.
RESERVED_HEADERS = frozenset(
    {"from", "to", "subject", "date", "message-id", "mime-version", "content-type", "sender", "bcc"}
)


@dataclass(frozen=True, kw_only=True)
class SmtpSettings:
    """Where and how to submit mail. The password is left out of `repr`, so logs never show it."""

    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    security: Security = "starttls"
    timeout: float = 10.0
    from_address: str
    from_name: str | None = None


@dataclass
class OutgoingEmail:
    """One rendered message to one recipient; `headers` carries e.g. List-Unsubscribe (RFC 8058)."""

    to: str
    subject: str
    text: str
    html: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    message_id: str | None = None


def build_message(settings: SmtpSettings, email: OutgoingEmail) -> Message:
    """The MIME message: text/plain alone, or multipart/alternative with the HTML after the text (the
    last part is the one clients prefer), with Date and Message-ID so every copy is traceable.

    Built with the classic (compat32) MIME classes: the modern `EmailMessage` parses every header
    through its registry, which was a fifth of the delivery worker's time at 200 messages/s."""
    text = MIMEText(email.text, "plain", "utf-8")
    message: Message = text
    if email.html is not None:
        message = MIMEMultipart("alternative")
        message.attach(text)
        message.attach(MIMEText(email.html, "html", "utf-8"))
    message["From"] = formataddr((settings.from_name or "", settings.from_address), charset="utf-8")
    message["To"] = _clean(email.to)
    message["Subject"] = email.subject if email.subject.isascii() else Header(email.subject, "utf-8").encode()
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = email.message_id or make_msgid(domain=settings.from_address.rpartition("@")[2])
    for name, value in email.headers.items():
        if name.lower() in RESERVED_HEADERS:
            raise ValueError(f"header {name} is set by the sender, not by the caller")
        message[_clean(name)] = _clean(value)
    return message


def _clean(value: str) -> str:
    """No CR or LF in a header: nothing can be injected after it."""
    if "\r" in value or "\n" in value:
        raise ValueError("header values cannot contain line breaks")
    return value


def _code_error(code: int, text: str, *, at_rcpt: bool = False) -> DeliveryError:
    if 500 <= code <= 599:
        status = "bounced" if at_rcpt else "failed"
        return DeliveryError(f"SMTP {code} {text}", permanent=True, status=status)
    return DeliveryError(f"SMTP {code} {text}", permanent=False)


def classify(exc: BaseException) -> DeliveryError:
    """The `DeliveryError` for an aiosmtplib or socket failure. Messages carry the server's reply,
    never our credentials (aiosmtplib does not put them in its exceptions)."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused) and exc.recipients:
        first = exc.recipients[0]
        return _code_error(first.code, first.message, at_rcpt=True)
    if isinstance(exc, aiosmtplib.SMTPRecipientRefused):
        return _code_error(exc.code, exc.message, at_rcpt=True)
    if isinstance(exc, aiosmtplib.SMTPResponseException):  # MAIL, DATA, AUTH, HELO, greeting
        return _code_error(exc.code, exc.message)
    if isinstance(exc, aiosmtplib.SMTPNotSupported):  # e.g. a non-ASCII address, no SMTPUTF8
        return DeliveryError(f"SMTP: {exc.message}", permanent=True)
    if isinstance(exc, aiosmtplib.SMTPException):  # timeouts, disconnects, no STARTTLS offered
        return DeliveryError(f"SMTP: {type(exc).__name__}: {exc.message}", permanent=False)
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(f"SMTP TLS: {exc}", permanent=False)
    return DeliveryError(f"SMTP connection: {type(exc).__name__}: {exc}", permanent=False)


def _envelope_to(message: Message) -> str:
    addresses = getaddresses([str(message["To"])])
    if len(addresses) != 1 or not addresses[0][1]:
        raise ValueError("an OutgoingEmail has exactly one recipient")
    return addresses[0][1]


SMTP_FAILURES = (aiosmtplib.SMTPException, OSError, TimeoutError)


class SmtpSender:
    """Submits mail to one SMTP server, one connection per `send` (or per `send_many` batch).

    `tls_context` overrides the default certificate checks (tests trust the fake's self-signed
    certificate with it); `validate_certs=False` turns them off, for a dev relay only.
    """

    def __init__(
        self,
        settings: SmtpSettings,
        *,
        tls_context: ssl.SSLContext | None = None,
        validate_certs: bool = True,
    ) -> None:
        self.settings = settings
        self._tls_context = tls_context
        self._validate_certs = validate_certs
        self._hostname = socket.getfqdn()  # EHLO name, once (aiosmtplib would look it up per connection)

    def __repr__(self) -> str:
        return f"SmtpSender({self.settings!r})"

    def _client(self) -> aiosmtplib.SMTP:
        s = self.settings
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password,
            use_tls=s.security == "ssl",
            start_tls=s.security == "starttls",  # required when asked for, never opportunistic
            timeout=s.timeout,
            local_hostname=self._hostname,
            tls_context=self._tls_context,
            validate_certs=self._validate_certs,
        )

    async def send(self, email: OutgoingEmail) -> str:
        """Send one message; returns its Message-ID (with angle brackets, as in the header)."""
        (outcome,) = await self.send_many([email])
        if isinstance(outcome, DeliveryError):
            raise outcome
        return outcome

    async def send_many(self, emails: Sequence[OutgoingEmail]) -> list[str | DeliveryError]:
        """Send a batch over one connection; one outcome per email, in order (its Message-ID or the
        error). A refusal of one message does not stop the rest (aiosmtplib resets the envelope); a
        broken connection fails the message it broke on and, as transient, every one after it. Once
        the server has accepted a message, nothing later (not even a failed QUIT) reports it failed,
        since a retry would deliver it twice."""
        messages = [build_message(self.settings, email) for email in emails]
        if not messages:
            return []
        smtp = self._client()
        try:
            await smtp.connect()
        except SMTP_FAILURES as exc:
            error = classify(exc)
            error.__cause__ = exc
            return [error] * len(messages)
        outcomes: list[str | DeliveryError] = []
        broken: DeliveryError | None = None
        try:
            for message in messages:
                if broken is not None:
                    outcomes.append(DeliveryError(f"not sent, connection lost: {broken}", permanent=False))
                    continue
                try:
                    recipient = _envelope_to(message)
                    await smtp.send_message(
                        message, sender=self.settings.from_address, recipients=[recipient]
                    )
                except SMTP_FAILURES as exc:
                    error = classify(exc)
                    error.__cause__ = exc
                    outcomes.append(error)
                    if not smtp.is_connected:
                        broken = error
                else:
                    outcomes.append(str(message["Message-ID"]))
        finally:
            await _quit_quietly(smtp)
        return outcomes


async def _quit_quietly(smtp: aiosmtplib.SMTP) -> None:
    """QUIT politely; a server that hangs up first has still taken what it acknowledged."""
    if not smtp.is_connected:
        return
    try:
        await smtp.quit()
    except SMTP_FAILURES:
        smtp.close()
