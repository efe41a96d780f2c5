"""The objects of analytics, built once at start and handed to routes and handlers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from services.analytics.service.alerts import Alerts
from services.analytics.service.common import AnalyticsUnitOfWork, Stores
from services.analytics.service.dashboards import Dashboards
from services.analytics.service.feeds import Feeds
from services.analytics.service.ingestion import Ingestion
from services.analytics.service.partitions import Partitions
from services.analytics.service.queries import Queries
from services.analytics.service.reports import Reports
from services.analytics.service.tenant_settings import TenantSettings
from services.analytics.settings import Settings
from shared.infrastructure import BackgroundTask, BaseContainer, Infrastructure
from shared.unit_of_work import UnitOfWork


@dataclass
class Container(BaseContainer):
    settings: Settings
    uow: AnalyticsUnitOfWork
    ingestion: Ingestion
    queries: Queries
    dashboards: Dashboards
    reports: Reports
    alerts: Alerts
    feeds: Feeds
    tenant_settings: TenantSettings
    partitions: Partitions

    def background_tasks(self) -> list[BackgroundTask]:
        s = self.settings
        return [
            ("report-worker", partial(self.reports.run, interval=s.report_poll_seconds)),
            ("alert-evaluator", partial(self.alerts.run, interval=s.alert_interval_seconds)),
            ("partitions-ahead", partial(self.partitions.run, interval=s.partition_check_seconds)),
        ]


async def build(infra: Infrastructure, settings: Settings) -> Container:
    uow = UnitOfWork(infra.database, infra.outbox, Stores)
    ingestion = Ingestion(uow)
    queries = Queries(uow)
    return Container(
        infra=infra,
        settings=settings,
        uow=uow,
        ingestion=ingestion,
        queries=queries,
        dashboards=Dashboards(uow, queries),
        reports=Reports(uow, queries, settings.report_lease_seconds),
        alerts=Alerts(uow),
        feeds=Feeds(ingestion, infra.peers),
        tenant_settings=TenantSettings(uow),
        partitions=Partitions(uow),
    )
