"""notification as a real process in front of the SMTP catcher, the Twilio fake and the Web Push
fake, with the real user_management (its events and its directory) and a real gateway for the
live stream. `PUBLIC_URL` is the service itself, so the Twilio fake's signed callbacks reach it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from devstack.embedded import free_port
from fakes import twilio, webpush
from fakes._server import ThreadedFake
from fakes.smtp import MailCatcher
from tests.support.kit import Account, register_owner
from tests.support.stack import Stack, running_services

BACKUP_SID = "AC" + "0" * 28 + "bac0"
BACKUP_TOKEN = "fake_backup_auth_token_000000000"
GENEROUS = json.dumps({"basic": "100000/60", "pro": "100000/60", "enterprise": "100000/60"})


@dataclass
class Channels:
    mail: MailCatcher
    twilio: ThreadedFake
    twilio_backup: ThreadedFake
    push: ThreadedFake


@dataclass
class Service:
    url: str
    gateway: str
    channels: Channels
    env: dict[str, str]


@pytest.fixture(scope="package")
def channels() -> Iterator[Channels]:
    mail = MailCatcher().start()
    sms, push = ThreadedFake(twilio.make_app()), ThreadedFake(webpush.make_app())
    backup = ThreadedFake(twilio.make_app(account_sid=BACKUP_SID, auth_token=BACKUP_TOKEN))
    for fake in (sms, backup, push):
        fake.start()
    try:
        yield Channels(mail, sms, backup, push)
    finally:
        for fake in (sms, backup, push):
            fake.stop()
        mail.stop()


@pytest.fixture(scope="package")
def notification(stack: Stack, user_service: str, channels: Channels) -> Iterator[Service]:
    port = free_port()
    overrides = {
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(channels.mail.smtp_port),
        "SMTP_SECURITY": "none",
        "TWILIO_URL": channels.twilio.url,
        "TWILIO_ACCOUNT_SID": twilio.DEFAULT_ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": twilio.DEFAULT_AUTH_TOKEN,
        "TWILIO_FROM": twilio.DEFAULT_SERVICE_NUMBER,
        "TWILIO_FALLBACK_URL": channels.twilio_backup.url,
        "TWILIO_FALLBACK_ACCOUNT_SID": BACKUP_SID,
        "TWILIO_FALLBACK_AUTH_TOKEN": BACKUP_TOKEN,
        "TWILIO_FALLBACK_FROM": "+15005550007",
        "TRACK_OPENS": "true",
        "TRACK_CLICKS": "true",
        "DELIVERY_POLL_SECONDS": "0.1",
        "RETRY_BASE_SECONDS": "0.03",
        "EVENTS_VISIBILITY_TIMEOUT_MS": "2000",
    }
    with running_services(stack, "notification", ports={"notification": port}, **overrides) as urls:
        service = urls["notification"]
        with running_services(
            stack,
            "api_gateway",
            log_name="notification-gateway",
            NOTIFICATION_URL=service,
            PLAN_RATE_LIMITS=GENEROUS,
        ) as edge:
            yield Service(service, edge["api_gateway"], channels, stack.env("notification", **overrides))


@pytest.fixture
def api(notification: Service) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=notification.url, timeout=30) as client:
        yield client


@pytest.fixture
def owner(user_service: str, notification: Service) -> Account:
    return register_owner(user_service)
