"""The objects of notification, built once at start and handed to routes and handlers."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from email.utils import parseaddr
from functools import partial

from services.notification.clients.email import SmtpSender, SmtpSettings
from services.notification.clients.failover import Failover
from services.notification.clients.push import WebPushSender
from services.notification.clients.sms import TwilioSender
from services.notification.domain.links import LinkSigner
from services.notification.repository import NotificationRepository
from services.notification.service.delivery import Channels, DeliveryWorker, WorkerPolicy
from services.notification.service.directory import Directory
from services.notification.service.inbox import Inbox, InboxStreams
from services.notification.service.preferences import Preferences
from services.notification.service.reactions import Reactions
from services.notification.service.sending import Sending
from services.notification.service.templates import Templates
from services.notification.service.tracking import Deliveries, Tracking
from services.notification.settings import Settings
from shared.infrastructure import BackgroundTask, BaseContainer, Infrastructure
from shared.unit_of_work import UnitOfWork


@dataclass
class Container(BaseContainer):
    settings: Settings
    uow: UnitOfWork[NotificationRepository]
    channels: Channels
    sending: Sending
    worker: DeliveryWorker
    templates: Templates
    preferences: Preferences
    inbox: Inbox
    streams: InboxStreams
    tracking: Tracking
    deliveries: Deliveries
    reactions: Reactions

    def background_tasks(self) -> list[BackgroundTask]:
        return [
            ("delivery-worker", partial(self.worker.run, interval=self.settings.delivery_poll_seconds)),
            ("inbox-listener", self.streams.run),
        ]


def _secret(value: object) -> str | None:
    return value.get_secret_value() if value is not None else None  # type: ignore[attr-defined]


def build_channels(settings: Settings) -> Channels:
    channels = Channels()
    if settings.smtp_host:
        name, address = parseaddr(settings.smtp_from)
        hosts = [(settings.smtp_host, settings.smtp_port)]
        if settings.smtp_fallback_host:
            hosts.append((settings.smtp_fallback_host, settings.smtp_fallback_port))
        context = ssl.create_default_context()
        senders = [
            SmtpSender(
                SmtpSettings(
                    host=host,
                    port=port,
                    username=settings.smtp_username,
                    password=_secret(settings.smtp_password),
                    security=settings.smtp_security,
                    timeout=15.0,
                    from_address=address,
                    from_name=name or None,
                ),
                tls_context=context,
            )
            for host, port in hosts
        ]
        channels.email = Failover(senders)
    accounts = [
        (settings.twilio_url, settings.twilio_account_sid, settings.twilio_auth_token, settings.twilio_from),
        (
            settings.twilio_fallback_url,
            settings.twilio_fallback_account_sid,
            settings.twilio_fallback_auth_token,
            settings.twilio_fallback_from,
        ),
    ]
    texters = [
        TwilioSender(str(url), sid, str(_secret(token)), sender)
        for url, sid, token, sender in accounts
        if sid and token and sender
    ]
    if texters:
        channels.sms = Failover(texters)
    if settings.vapid_private_key:
        channels.push = WebPushSender(str(_secret(settings.vapid_private_key)), settings.vapid_subject)
    return channels


async def build(infra: Infrastructure, settings: Settings) -> Container:
    uow = UnitOfWork(infra.database, infra.outbox, NotificationRepository)
    channels = build_channels(settings)
    directory = Directory(infra.peers)
    links = LinkSigner(settings.link_secret.get_secret_value().encode())
    public_url = str(settings.public_url).rstrip("/")
    sending = Sending(uow, directory, channels.offered(), settings.digest_window_minutes)
    policy = WorkerPolicy(
        lease_seconds=settings.delivery_lease_seconds,
        concurrency=settings.delivery_concurrency,
        retry_scale=settings.retry_base_seconds / 15.0,
        track_opens=settings.track_opens,
        track_clicks=settings.track_clicks,
    )
    return Container(
        infra=infra,
        settings=settings,
        uow=uow,
        channels=channels,
        sending=sending,
        worker=DeliveryWorker(uow, channels, directory, links, public_url, policy),
        templates=Templates(uow),
        preferences=Preferences(uow),
        inbox=Inbox(uow),
        streams=InboxStreams(infra.database.url),
        tracking=Tracking(uow, links, channels.sms),
        deliveries=Deliveries(uow),
        reactions=Reactions(sending, directory, public_url),
    )
