"""The objects of integration, built once at start and handed to routes and handlers."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from pydantic import SecretStr

from services.integration.clients.base import Connector, OAuthApp
from services.integration.clients.google_ads import GoogleAdsConnector
from services.integration.clients.linkedin import LinkedInConnector
from services.integration.clients.meta import MetaConnector
from services.integration.clients.stripe import StripeClient
from services.integration.clients.transport import TransportSettings
from services.integration.domain.secrets_box import MasterKeys
from services.integration.repository import IntegrationRepository
from services.integration.service.billing import Billing
from services.integration.service.connections import Connections
from services.integration.service.grants import Grants, Providers
from services.integration.service.launches import Launches
from services.integration.service.syncs import SyncPolicy, Syncs
from services.integration.service.vault import Vault
from services.integration.service.webhooks import Webhooks, WebhookSecrets
from services.integration.settings import Settings
from shared.infrastructure import BackgroundTask, BaseContainer, Infrastructure
from shared.unit_of_work import UnitOfWork


@dataclass
class Container(BaseContainer):
    settings: Settings
    uow: UnitOfWork[IntegrationRepository]
    providers: Providers
    stripe: StripeClient | None
    connections: Connections
    syncs: Syncs
    launches: Launches
    billing: Billing
    webhooks: Webhooks

    def background_tasks(self) -> list[BackgroundTask]:
        return [("sync-runner", partial(self.syncs.run, interval=self.settings.sync_poll_seconds))]

    async def aclose(self) -> None:
        for connector in self.providers.connectors.values():
            await connector.aclose()
        if self.stripe is not None:
            await self.stripe.aclose()


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value else ""


def _url(value: object) -> str:
    return str(value).rstrip("/")


def build_providers(settings: Settings) -> Providers:
    transport = TransportSettings(
        retries=settings.provider_retries,
        backoff_cap=settings.provider_backoff_cap_seconds,
        fail_max=settings.breaker_fail_max,
        reset_timeout=settings.breaker_reset_seconds,
    )
    connectors: dict[str, Connector] = {
        "google_ads": GoogleAdsConnector(
            _url(settings.google_ads_url),
            _url(settings.google_oauth_url),
            developer_token=_secret(settings.google_ads_developer_token) or None,
            authorization_base_url=_url(settings.google_auth_url),
            settings=transport,
        ),
        "meta_ads": MetaConnector(
            _url(settings.meta_graph_url), dialog_base_url=_url(settings.meta_dialog_url), settings=transport
        ),
        "linkedin_ads": LinkedInConnector(
            _url(settings.linkedin_api_url), _url(settings.linkedin_oauth_url), settings=transport
        ),
    }
    redirect = f"{_url(settings.public_url)}/api/v1/integrations/oauth/callback"
    registrations = {
        "google_ads": (settings.google_client_id, settings.google_client_secret),
        "meta_ads": (settings.meta_app_id, settings.meta_app_secret),
        "linkedin_ads": (settings.linkedin_client_id, settings.linkedin_client_secret),
    }
    apps = {
        name: OAuthApp(client_id, _secret(secret), redirect)
        for name, (client_id, secret) in registrations.items()
        if client_id and secret
    }
    return Providers(connectors, apps, {})


async def build(infra: Infrastructure, settings: Settings) -> Container:
    uow = UnitOfWork(infra.database, infra.outbox, IntegrationRepository)
    vault = Vault(MasterKeys.parse(settings.master_keys.get_secret_value()))
    providers = build_providers(settings)
    grants = Grants(uow, vault, providers)
    stripe = (
        StripeClient(_url(settings.stripe_api_url), _secret(settings.stripe_api_key), infra.breakers)
        if settings.stripe_api_key
        else None
    )
    billing = Billing(uow, stripe, settings.stripe_prices, _url(settings.public_url))
    policy = SyncPolicy(
        lease_seconds=settings.sync_lease_seconds,
        initial_days=settings.sync_initial_days,
        page_days=settings.sync_page_days,
        inline_rows=settings.sync_inline_rows,
        max_attempts=settings.sync_max_attempts,
    )
    secrets = WebhookSecrets(
        stripe=[s.strip() for s in _secret(settings.stripe_webhook_secret).split(",") if s.strip()],
        meta_app_secret=_secret(settings.meta_app_secret),
        meta_verify_token=_secret(settings.meta_verify_token),
        mautic=_secret(settings.mautic_webhook_secret),
    )
    return Container(
        infra=infra,
        settings=settings,
        uow=uow,
        providers=providers,
        stripe=stripe,
        connections=Connections(uow, vault, providers),
        syncs=Syncs(uow, grants, providers, policy),
        launches=Launches(grants, providers),
        billing=billing,
        webhooks=Webhooks(uow, billing, secrets),
    )
