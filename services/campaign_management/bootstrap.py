"""The objects of campaign_management, built once at start and handed to routes and handlers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from services.campaign_management.clients.fleet import FleetClients
from services.campaign_management.clients.mautic import MauticCredentials
from services.campaign_management.repository import CampaignRepository
from services.campaign_management.service.campaigns import Campaigns
from services.campaign_management.service.funnels import Funnels
from services.campaign_management.service.lifecycle import Lifecycle
from services.campaign_management.service.notices import OwnerNotices
from services.campaign_management.service.operations import Operations
from services.campaign_management.service.recommendations import Recommendations
from services.campaign_management.settings import Settings
from shared.infrastructure import BackgroundTask, BaseContainer, Infrastructure
from shared.unit_of_work import UnitOfWork


@dataclass
class Container(BaseContainer):
    settings: Settings
    uow: UnitOfWork[CampaignRepository]
    campaigns: Campaigns
    lifecycle: Lifecycle
    operations: Operations
    recommendations: Recommendations
    funnels: Funnels
    notices: OwnerNotices

    def background_tasks(self) -> list[BackgroundTask]:
        interval = self.settings.scheduler_interval_seconds
        return [
            ("campaign-scheduler", partial(self.lifecycle.run, interval=interval)),
            ("owner-notices", partial(self.notices.run, interval=interval)),
        ]


def default_mautic(settings: Settings) -> MauticCredentials | None:
    """The Mautic of tenants without a connection of their own (the dev stack's fake)."""
    if settings.mautic_url is None:
        return None
    return MauticCredentials(
        base_url=str(settings.mautic_url).rstrip("/"),
        username=settings.mautic_username,
        password=settings.mautic_password.get_secret_value() if settings.mautic_password else None,
        client_id=settings.mautic_client_id,
        client_secret=settings.mautic_client_secret.get_secret_value()
        if settings.mautic_client_secret
        else None,
    )


async def build(infra: Infrastructure, settings: Settings) -> Container:
    uow = UnitOfWork(infra.database, infra.outbox, CampaignRepository)
    fleet = FleetClients(infra.peers)
    return Container(
        infra=infra,
        settings=settings,
        uow=uow,
        campaigns=Campaigns(uow),
        lifecycle=Lifecycle(uow),
        operations=Operations(uow, fleet),
        recommendations=Recommendations(uow, fleet),
        funnels=Funnels(uow, fleet, infra.breakers, default_mautic(settings)),
        notices=OwnerNotices(uow, fleet, settings.notice_retry_seconds),
    )
