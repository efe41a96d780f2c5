"""The mail catcher through the standard library's smtplib (run in a thread) and its HTTP API through
httpx: multipart mail with List-Unsubscribe is caught and parsed, AUTH and STARTTLS work when turned
on, and scripted rejections give permanent and N-times temporary SMTP errors."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import httpx
import pytest

from fakes.smtp import MailCatcher

UNSUBSCRIBE = "<mailto:unsub@bizosaas.example?subject=unsubscribe>, <https://bizosaas.example/u/abc123>"


def newsletter(to: str = "lead@client.example", subject: str = "Spring campaign: 20% off") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Agency <news@agency.example>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain="agency.example")
    msg["List-Unsubscribe"] = UNSUBSCRIBE
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content("Hello,\nour spring sale starts today.\n")
    msg.add_alternative(
        "<html><body><p>Hello, our <b>spring sale</b> starts today.</p></body></html>", subtype="html"
    )
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="flyer.pdf")
    return msg


def send(
    port: int, msg: EmailMessage, *, login: tuple[str, str] | None = None, tls: bytes | None = None
) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
        if tls is not None:
            smtp.starttls(context=ssl.create_default_context(cadata=tls.decode()))
        if login is not None:
            smtp.login(*login)
        smtp.send_message(msg)


@pytest.fixture
async def mail() -> AsyncIterator[MailCatcher]:
    async with MailCatcher() as catcher:
        yield catcher


@pytest.fixture
async def http(mail: MailCatcher) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mail.http_url, timeout=5) as client:
        yield client


async def test_catches_and_parses_multipart_mail(mail: MailCatcher, http: httpx.AsyncClient) -> None:
    assert mail.smtp_port > 0 and mail.http_port > 0
    msg = newsletter()
    await asyncio.to_thread(send, mail.smtp_port, msg)
    caught = await mail.next_message(timeout=3)
    assert caught.envelope_from == "news@agency.example" and caught.envelope_to == ["lead@client.example"]
    assert caught.subject == "Spring campaign: 20% off"
    assert caught.text == "Hello,\nour spring sale starts today.\n"
    assert caught.html is not None and "<b>spring sale</b>" in caught.html
    assert caught.header("List-Unsubscribe") == UNSUBSCRIBE
    assert caught.raw.startswith(b"From: Agency <news@agency.example>")

    listing = (await http.get("/messages")).json()
    assert listing == [
        {
            "id": caught.id,
            "from": "Agency <news@agency.example>",
            "to": ["lead@client.example"],
            "envelope_to": ["lead@client.example"],
            "subject": "Spring campaign: 20% off",
            "date": msg["Date"],
            "received_at": caught.received_at,
        }
    ]
    full = (await http.get(f"/messages/{caught.id}")).json()
    assert (
        full["list_unsubscribe"] == UNSUBSCRIBE
        and full["list_unsubscribe_post"] == "List-Unsubscribe=One-Click"
    )
    assert full["message_id"] == msg["Message-ID"] and full["text"] == caught.text
    assert full["attachments"] == [{"filename": "flyer.pdf", "content_type": "application/pdf", "size": 13}]
    assert full["auth_user"] is None and full["tls"] is False
    assert "Subject: Spring campaign: 20% off" in full["raw"]
    assert (await http.get(f"/messages/{caught.id}/html")).headers["Content-Type"].startswith("text/html")
    raw = await http.get(f"/messages/{caught.id}/raw")
    assert raw.content == caught.raw and raw.headers["Content-Type"] == "message/rfc822"

    assert (await http.delete("/messages")).status_code == 204
    assert (await http.get("/messages")).json() == []
    assert (await http.get(f"/messages/{caught.id}")).status_code == 404


async def test_unicode_mail_over_smtputf8(mail: MailCatcher) -> None:
    msg = newsletter(to="zoë@client.example", subject="Grüße — 春のセール")

    def send_utf8() -> None:
        with smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=5) as smtp:
            smtp.send_message(msg, mail_options=["SMTPUTF8"])

    await asyncio.to_thread(send_utf8)
    caught = await mail.next_message()
    assert caught.smtputf8 and caught.envelope_to == ["zoë@client.example"]
    assert caught.subject == "Grüße — 春のセール"


async def test_permanent_and_temporary_rejections(mail: MailCatcher, http: httpx.AsyncClient) -> None:
    r = await http.post("/_fake/reject", json={"pattern": r"nobody@.*"})
    assert r.status_code == 201
    await http.post("/_fake/reject", json={"pattern": r".*@slow\.example", "temporary": True, "count": 2})

    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await asyncio.to_thread(send, mail.smtp_port, newsletter(to="nobody@client.example"))
    assert refused.value.recipients["nobody@client.example"] == (550, b"5.1.1 User unknown")

    for _ in range(2):  # temporary, twice, then accepted: what a retrying sender sees
        with pytest.raises(smtplib.SMTPRecipientsRefused) as temp:
            await asyncio.to_thread(send, mail.smtp_port, newsletter(to="a@slow.example"))
        code, text = temp.value.recipients["a@slow.example"]
        assert code == 451 and text.startswith(b"4.3.0")
    await asyncio.to_thread(send, mail.smtp_port, newsletter(to="a@slow.example"))
    assert (await mail.next_message()).envelope_to == ["a@slow.example"]

    # One bad recipient among several: the others still get the message.
    msg = newsletter(to="ok@client.example, nobody@client.example")
    await asyncio.to_thread(send, mail.smtp_port, msg)
    assert (await mail.next_message()).envelope_to == ["ok@client.example"]

    mail.reject(r".*", stage="data", code=554, message="5.7.1 Message rejected as spam", count=1)
    with pytest.raises(smtplib.SMTPDataError) as data_err:
        await asyncio.to_thread(send, mail.smtp_port, newsletter())
    assert data_err.value.smtp_code == 554

    state = (await http.get("/_fake/state")).json()
    assert [r["reply"][:3] for r in state["rejections"]] == ["550", "451", "451", "550", "554"]
    assert len(state["messages"]) == 2
    await http.post("/_fake/reset")
    assert (await http.get("/_fake/state")).json() == {"messages": [], "reject_rules": [], "rejections": []}


async def test_auth_required_with_starttls() -> None:
    async with MailCatcher(credentials={"mailer": "s3cret"}, starttls=True, require_starttls=True) as mail:
        assert mail.tls_cert_pem is not None

        def no_tls() -> None:
            with smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=5) as smtp:
                smtp.send_message(newsletter())

        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            await asyncio.to_thread(no_tls)
        assert refused.value.smtp_code == 530  # Must issue a STARTTLS command first
        with pytest.raises(smtplib.SMTPAuthenticationError):
            await asyncio.to_thread(
                send, mail.smtp_port, newsletter(), login=("mailer", "wrong"), tls=mail.tls_cert_pem
            )
        await asyncio.to_thread(
            send, mail.smtp_port, newsletter(), login=("mailer", "s3cret"), tls=mail.tls_cert_pem
        )
        caught = await mail.next_message()
        assert caught.auth_user == "mailer" and caught.tls is True


async def test_auth_login_without_tls_and_unauthenticated_refusal() -> None:
    async with MailCatcher(credentials={"mailer": "s3cret"}) as mail:

        def login_mechanism() -> None:
            with smtplib.SMTP("127.0.0.1", mail.smtp_port, timeout=5) as smtp:
                smtp.ehlo()
                assert "LOGIN" in smtp.esmtp_features["auth"] and "PLAIN" in smtp.esmtp_features["auth"]
                smtp.user, smtp.password = "mailer", "s3cret"
                smtp.auth("LOGIN", smtp.auth_login)
                smtp.send_message(newsletter())

        await asyncio.to_thread(login_mechanism)
        assert (await mail.next_message()).auth_user == "mailer"
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            await asyncio.to_thread(send, mail.smtp_port, newsletter())
        assert refused.value.smtp_code == 530  # Authentication required


def test_synchronous_use() -> None:
    with MailCatcher() as mail:
        send(mail.smtp_port, newsletter(subject="sync"))
        (caught,) = mail.wait_for_messages(1, timeout=3)
        assert caught.subject == "sync"
    with pytest.raises(ConnectionRefusedError):
        send(mail.smtp_port, newsletter())
