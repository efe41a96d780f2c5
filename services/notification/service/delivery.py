"""The delivery worker: claims due deliveries (any replica; a claim is one atomic UPDATE, so two
workers never take the same one), renders them, hands them to the channel's provider, records the
attempt and moves the delivery on: sent; queued again with backoff on a temporary failure (up to
MAX_TRIES over about half an hour, at least what the provider asked to wait); bounced or failed at
once on a permanent one; dead when the tries run out (listed, and re-driven by hand).

A worker that dies mid-send leaves its lease to lapse and the delivery is tried again: delivery is
at least once (an SMTP server that accepted a message whose answer was lost gets it twice).
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from services.notification.clients.email import OutgoingEmail, SmtpSender
from services.notification.clients.failover import Failover
from services.notification.clients.push import WebPushSender
from services.notification.clients.sms import TwilioSender
from services.notification.domain import preferences, retry
from services.notification.domain.links import LinkClaims, LinkSigner
from services.notification.domain.retry import DeliveryError
from services.notification.domain.templates import TemplateParts
from services.notification.events import NotificationFailed, NotificationSent
from services.notification.models import Delivery, PushSubscription
from services.notification.service.common import BACKGROUND_ROLE, NotificationUnitOfWork, NotificationWork
from services.notification.service.directory import Directory
from services.notification.service.rendering import render_content
from shared import errors
from shared.clock import utcnow
from shared.events.delivery import is_infrastructure_error
from shared.outage import Outage, run_periodically

logger = logging.getLogger("notification.delivery")
BATCH = 50  # deliveries of one tenant per claim, SMTP connection and closing transaction
PARALLEL = 8


@dataclass
class Job:
    """One claimed delivery on its way: what it says, and how its send went."""

    delivery: Delivery
    rendered: TemplateParts | None = None
    subscriptions: list[PushSubscription] = field(default_factory=list)
    provider: str | None = None
    provider_id: str | None = None
    failure: DeliveryError | None = None


HREF = re.compile(r'href="(https?://[^"]+)"')


@dataclass
class Channels:
    """The providers this deployment has, per channel (None: the channel is not offered)."""

    email: Failover[SmtpSender] | None = None
    sms: Failover[TwilioSender] | None = None
    push: WebPushSender | None = None

    def offered(self) -> set[str]:
        return {name for name in ("email", "sms", "push") if getattr(self, name) is not None}


@dataclass(frozen=True)
class WorkerPolicy:
    lease_seconds: float
    concurrency: int
    retry_scale: float  # 1.0: the 15 s first wait of domain.retry; tests shrink it
    track_opens: bool
    track_clicks: bool


class DeliveryWorker:
    def __init__(
        self,
        uow: NotificationUnitOfWork,
        channels: Channels,
        directory: Directory,
        links: LinkSigner,
        public_url: str,
        policy: WorkerPolicy,
    ) -> None:
        self.uow = uow
        self.channels = channels
        self.directory = directory
        self.links = links
        self.public_url = public_url.rstrip("/")
        self.policy = policy
        self._slots = asyncio.Semaphore(policy.concurrency)
        self._outage = Outage(logger, "delivery worker: database")

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        await run_periodically(stop, interval, self.drain, self._outage, is_infrastructure_error)

    async def drain(self) -> int:
        """Every due delivery, in rounds, until none is left (a burst is not paced by the poll)."""
        total = 0
        while handled := await self.tick():
            total += handled
        return total

    async def tick(self) -> int:
        async with self.uow(None) as work:
            due = await work.read_as(
                BACKGROUND_ROLE, lambda: work.repo.due_deliveries(self.policy.concurrency * BATCH)
            )
        by_tenant: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        for tenant_id, delivery_id in due:
            by_tenant[tenant_id].append(delivery_id)
        batches = [(t, chunk) for t, ids in by_tenant.items() for chunk in _chunks(ids)]
        results = await asyncio.gather(*(self._guarded(t, ids) for t, ids in batches), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not is_infrastructure_error(result):
                logger.error("delivery failed unexpectedly: %s", type(result).__name__, exc_info=result)
        return len(due)

    async def _guarded(self, tenant_id: uuid.UUID, delivery_ids: list[uuid.UUID]) -> None:
        async with self._slots:
            await self.process(tenant_id, delivery_ids)

    async def process(self, tenant_id: uuid.UUID, delivery_ids: list[uuid.UUID]) -> None:
        """One tenant's batch: claimed and rendered in one transaction, emails sent over one SMTP
        connection, every outcome recorded in one transaction."""
        lease = utcnow() + timedelta(seconds=self.policy.lease_seconds)
        jobs: list[Job] = []
        async with self.uow(tenant_id) as work:
            for delivery in await work.repo.claim_many(delivery_ids, lease):
                jobs.append(await self._prepare(work, delivery))
        if not jobs:
            return  # other workers have them
        emails = [
            j for j in jobs if j.failure is None and j.delivery.channel == "email" and j.rendered is not None
        ]
        others = [j for j in jobs if j not in emails and j.failure is None]
        await self._send_emails(emails)
        await asyncio.gather(*(self._send_one(job) for job in others))
        async with self.uow(tenant_id) as work:
            for job in jobs:
                await self._finish(work, job)

    async def _prepare(self, work: NotificationWork, delivery: Delivery) -> Job:
        job = Job(delivery)
        try:
            if not delivery.content.get("invitation_for"):  # rendered once its link is minted
                job.rendered = await self._render(work, delivery)
        except errors.InvalidInput as problem:
            job.failure = DeliveryError(str(problem), permanent=True)
        if delivery.channel == "push" and delivery.user_id:
            job.subscriptions = await work.repo.push_subscriptions(delivery.user_id)
        return job

    async def _send_emails(self, jobs: list[Job]) -> None:
        """The batch over one connection to the first relay; what it refuses temporarily goes to
        the next relays one by one (the failover)."""
        if not jobs:
            return
        if self.channels.email is None:
            for job in jobs:
                job.failure = DeliveryError("no email provider is configured", permanent=True)
            return
        first, *rest = self.channels.email.senders
        outcomes = await first.send_many([self._email(job.delivery, job.rendered) for job in jobs])  # type: ignore[arg-type]
        for job, outcome in zip(jobs, outcomes, strict=True):
            if not isinstance(outcome, DeliveryError):
                job.provider, job.provider_id = "smtp:0", outcome
            elif outcome.permanent or not rest:
                job.failure = outcome
            else:
                email = self._email(job.delivery, job.rendered)  # type: ignore[arg-type]
                try:
                    message_id, index = await Failover(rest).run(lambda sender, e=email: sender.send(e))
                    job.provider, job.provider_id = f"smtp:{index + 1}", message_id
                except DeliveryError as error:
                    job.failure = error

    async def _send_one(self, job: Job) -> None:
        try:
            rendered = job.rendered or await self._invitation(job.delivery)
            job.provider, job.provider_id = await self._send(job.delivery, rendered, job.subscriptions)
        except DeliveryError as error:
            job.failure = error
        except errors.Unavailable as error:
            job.failure = DeliveryError(str(error), permanent=False)

    async def _render(self, work: NotificationWork, delivery: Delivery) -> TemplateParts:
        content = delivery.content
        if "digest" not in content:
            return await render_content(work, content)
        items = []
        for item in content.get("items", []):
            part = await render_content(work, {**item, "locale": content.get("locale")})
            items.append({"subject": part.subject or part.push_title or "", "text": part.text or ""})
        digest = {"template": "digest", "locale": content.get("locale"), "data": {}}
        return await render_content(
            work, digest, {"items": items, "count": len(items), "category": content["digest"]}
        )

    async def _invitation(self, delivery: Delivery) -> TemplateParts:
        """An invitation's one-time link is minted now, used once, and kept nowhere."""
        user = delivery.content["invitation_for"]
        link = await self.directory.invitation_link(delivery.tenant_id, uuid.UUID(str(user)))
        if link is None:
            raise DeliveryError("the invitation is no longer open", permanent=True)
        async with self.uow(delivery.tenant_id) as work:
            try:
                return await render_content(work, delivery.content, {"invitation_url": link})
            except errors.InvalidInput as problem:
                raise DeliveryError(str(problem), permanent=True) from None

    async def _send(
        self, delivery: Delivery, rendered: TemplateParts, subscriptions: list[PushSubscription]
    ) -> tuple[str, str | None]:
        if delivery.channel == "email" and self.channels.email is not None:
            email = self._email(delivery, rendered)
            message_id, index = await self.channels.email.run(lambda sender: sender.send(email))
            return f"smtp:{index}", message_id
        if delivery.channel == "sms" and self.channels.sms is not None:
            text = (rendered.sms or rendered.text or rendered.subject or "")[:1600]
            callback = self._link("status", delivery, "/api/v1/notifications/callbacks/twilio/")
            sid, index = await self.channels.sms.run(
                lambda sender: sender.send(str(delivery.address), text, status_callback=callback)
            )
            return f"twilio:{index}", sid
        if delivery.channel == "push" and self.channels.push is not None:
            await self._push(delivery, rendered, subscriptions)
            return "webpush", None
        raise DeliveryError(f"no {delivery.channel} provider is configured", permanent=True)

    def _link(self, purpose: str, delivery: Delivery, path: str, extra: str = "") -> str:
        token = self.links.sign(LinkClaims(purpose, delivery.tenant_id, delivery.id, extra))
        return f"{self.public_url}{path}{token}"

    def _email(self, delivery: Delivery, rendered: TemplateParts) -> OutgoingEmail:
        html = rendered.html
        category = preferences.category(str(delivery.content.get("category", "")))
        headers: dict[str, str] = {}
        if delivery.user_id is not None and not category.critical:
            unsubscribe = self._link("unsubscribe", delivery, "/api/v1/notifications/unsubscribe/")
            headers = {
                "List-Unsubscribe": f"<{unsubscribe}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        if html and self.policy.track_clicks:
            html = HREF.sub(
                lambda m: (
                    f'href="{self._link("click", delivery, "/api/v1/notifications/t/click/", m.group(1))}"'
                ),
                html,
            )
        if html and self.policy.track_opens:
            pixel = self._link("open", delivery, "/api/v1/notifications/t/open/")
            html += f'<img src="{pixel}" width="1" height="1" alt="">'
        return OutgoingEmail(
            to=str(delivery.address),
            subject=rendered.subject or "",
            text=rendered.text or "",
            html=html,
            headers=headers,
        )

    async def _push(
        self, delivery: Delivery, rendered: TemplateParts, subscriptions: list[PushSubscription]
    ) -> None:
        """Every browser of the user; gone subscriptions are forgotten; sent if one took it."""
        assert self.channels.push is not None
        if not subscriptions:
            raise DeliveryError("the user has no push subscription", permanent=True)
        payload = {
            "title": rendered.push_title or rendered.subject or "",
            "body": rendered.push_body or rendered.text or "",
            "notification_id": str(delivery.notification_id),
        }
        failures: list[DeliveryError] = []
        for subscription in subscriptions:
            keys = {"p256dh": subscription.p256dh, "auth": subscription.auth}
            try:
                await self.channels.push.send({"endpoint": subscription.endpoint, "keys": keys}, payload)
            except DeliveryError as error:
                failures.append(error)
                if error.status == "bounced":
                    async with self.uow(delivery.tenant_id) as work:
                        await work.repo.delete_push_endpoint(subscription.endpoint)
        if len(failures) == len(subscriptions):
            transient = [f for f in failures if not f.permanent]
            raise transient[0] if transient else failures[0]

    async def _finish(self, work: NotificationWork, job: Job) -> None:
        now = utcnow()
        current, failure = job.delivery, job.failure
        category = str(current.content.get("category", ""))
        common = {
            "notification_id": current.notification_id,
            "delivery_id": current.id,
            "channel": current.channel,
            "user_id": current.user_id,
            "category": category,
        }
        if failure is None:
            await work.repo.update(
                current,
                status="sent",
                provider=job.provider,
                provider_id=job.provider_id,
                sent_at=now,
                lease_until=None,
                last_error=None,
                updated_at=now,
            )
            await work.repo.add_attempt(current, job.provider, "sent", None)
            await work.emit(NotificationSent(**common))
            return
        outcome = retry.outcome_of(failure, current.attempts)
        await work.repo.add_attempt(current, job.provider, outcome, failure.message)
        if outcome == "retry":
            wait = (
                retry.retry_delay(current.attempts, retry_after=failure.retry_after) * self.policy.retry_scale
            )
            await work.repo.update(
                current,
                status="queued",
                next_attempt_at=now + timedelta(seconds=wait),
                lease_until=None,
                last_error=failure.message,
                updated_at=now,
            )
            return
        status = "dead" if not failure.permanent else outcome
        await work.repo.update(
            current, status=status, lease_until=None, last_error=failure.message, updated_at=now
        )
        await work.emit(NotificationFailed(**common, error=failure.message, status=status))


def _chunks(ids: list[uuid.UUID]) -> list[list[uuid.UUID]]:
    """Up to BATCH per chunk, but spread over PARALLEL chunks when few are due: one SMTP connection
    takes its messages one after another, so a handful of connections keeps the relay busy."""
    size = max(1, min(BATCH, -(-len(ids) // PARALLEL)))
    return [ids[i : i + size] for i in range(0, len(ids), size)]
