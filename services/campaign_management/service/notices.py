"""Telling a campaign's owner what the platforms did with it (DESIGN flow 3).

A notice is written in the transaction that records the change, then sent through notification's
API by a background task: a notification outage delays notices and loses none. Each try holds
the notice's row lock (a second replica skips it), and the notice id is the idempotency key, so a
try whose answer was lost is not a second message.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from services.campaign_management.clients.fleet import FleetClients, NoticeRefused, PeerUnavailable
from services.campaign_management.models import Campaign, Execution, OwnerNotice
from services.campaign_management.service.common import SCHEDULER_ROLE, CampaignUnitOfWork, CampaignWork
from shared.clock import utcnow
from shared.events.delivery import is_infrastructure_error
from shared.outage import Outage, run_periodically

logger = logging.getLogger("campaign_management.notices")

BATCH = 20
MAX_ATTEMPTS = 8
CATEGORY = "campaign"


def retry_delay(attempts: int, base_seconds: float) -> timedelta:
    """base, twice the base, four times ... capped at an hour."""
    return timedelta(seconds=min(3600.0, base_seconds * 2 ** max(0, attempts - 1)))


def execution_notice(campaign: Campaign, execution: Execution) -> OwnerNotice | None:
    """What the owner hears when a channel's execution changes state (None without an owner)."""
    if campaign.owner_user_id is None:
        return None
    channel = execution.channel.replace("_", " ")
    subject = {
        "running": f"“{campaign.name}” is live on {channel}",
        "failed": f"“{campaign.name}” could not run on {channel}",
        "stopped": f"“{campaign.name}” stopped on {channel}",
        "pending": f"“{campaign.name}” is being set up on {channel}",
    }.get(execution.status, f"“{campaign.name}” on {channel}: {execution.status}")
    body = subject + (f". The platform said: {execution.error}" if execution.error else ".")
    return OwnerNotice(
        id=uuid.uuid4(),
        tenant_id=campaign.tenant_id,
        campaign_id=campaign.id,
        user_id=campaign.owner_user_id,
        category=CATEGORY,
        subject=subject[:300],
        body=body,
    )


class OwnerNotices:
    def __init__(self, uow: CampaignUnitOfWork, fleet: FleetClients, retry_seconds: float) -> None:
        self.uow = uow
        self.fleet = fleet
        self.retry_seconds = retry_seconds
        self._outage = Outage(logger, "owner notices: database")

    async def run(self, stop: asyncio.Event, interval: float) -> None:
        await run_periodically(stop, interval, self.deliver_due, self._outage, is_infrastructure_error)

    async def deliver_due(self) -> int:
        """Try every notice that is due; returns how many were sent."""
        sent = 0
        async with self.uow(None) as work:
            for notice_id, tenant_id in await work.read_as(
                SCHEDULER_ROLE, lambda: work.repo.due_notices(BATCH)
            ):
                await work.scope_to(tenant_id)
                notice = await work.repo.pending_notice(notice_id)
                if notice is not None and await self._try(work, notice):
                    sent += 1
        return sent

    async def _try(self, work: CampaignWork, notice: OwnerNotice) -> bool:
        attempts = notice.attempts + 1
        try:
            await self.fleet.notify_owner(notice)
        except NoticeRefused as refused:
            await work.repo.update(notice, status="failed", attempts=attempts, last_error=str(refused))
            logger.warning("notice %s refused by notification: %s", notice.id, refused)
            return False
        except PeerUnavailable as error:
            give_up = attempts >= MAX_ATTEMPTS
            await work.repo.update(
                notice,
                status="failed" if give_up else "pending",
                attempts=attempts,
                next_attempt_at=utcnow() + retry_delay(attempts, self.retry_seconds),
                last_error=str(error)[:300],
            )
            return False
        await work.repo.update(notice, status="sent", attempts=attempts, last_error=None)
        return True
