"""integration as real processes (two replicas sharing the database and bus) in front of the
Google Ads, Meta, LinkedIn and Stripe fakes, with the real user_management for tokens and the real
analytics, so a sync's rows are seen landing where flow 2 says they land."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fakes import google_ads, linkedin, meta, stripe
from fakes._server import ThreadedFake
from tests.support.kit import Account, register_owner
from tests.support.stack import Stack, running_fleet, running_services

STRIPE_KEY = stripe.DEFAULT_API_KEY
PRICES = '{"pro": "price_pro_monthly", "enterprise": "price_enterprise_monthly"}'


@dataclass
class Fakes:
    google: ThreadedFake
    meta: ThreadedFake
    linkedin: ThreadedFake
    stripe: ThreadedFake


@dataclass
class Fleet:
    urls: list[str]
    analytics: str
    fakes: Fakes
    env: dict[str, str]
    replicas: list[Any]  # devstack.fleet.Fleet of each replica: kill one, let it restart

    @property
    def url(self) -> str:
        return self.urls[0]


@pytest.fixture(scope="session")
def provider_fakes() -> Iterator[Fakes]:
    fakes = Fakes(
        ThreadedFake(google_ads.make_app()),
        ThreadedFake(meta.make_app()),
        ThreadedFake(linkedin.make_app()),
        ThreadedFake(stripe.make_app()),
    )
    for fake in (fakes.google, fakes.meta, fakes.linkedin, fakes.stripe):
        fake.start()
    try:
        yield fakes
    finally:
        for fake in (fakes.google, fakes.meta, fakes.linkedin, fakes.stripe):
            fake.stop()


def provider_settings(fakes: Fakes) -> dict[str, str]:
    return {
        "GOOGLE_ADS_URL": fakes.google.url,
        "GOOGLE_OAUTH_URL": fakes.google.url,
        "GOOGLE_AUTH_URL": fakes.google.url,
        "GOOGLE_ADS_DEVELOPER_TOKEN": "fake-developer-token",
        "GOOGLE_CLIENT_ID": "fake-google-client-id",
        "GOOGLE_CLIENT_SECRET": "fake-google-client-secret",
        "META_GRAPH_URL": fakes.meta.url,
        "META_DIALOG_URL": fakes.meta.url,
        "META_APP_ID": "fake-meta-app-id",
        "META_APP_SECRET": "fake-meta-app-secret",
        "LINKEDIN_API_URL": fakes.linkedin.url,
        "LINKEDIN_OAUTH_URL": fakes.linkedin.url,
        "LINKEDIN_CLIENT_ID": "fake-linkedin-client-id",
        "LINKEDIN_CLIENT_SECRET": "fake-linkedin-client-secret",
        "STRIPE_API_URL": fakes.stripe.url,
        "STRIPE_API_KEY": STRIPE_KEY,
        "STRIPE_PRICES": PRICES,
    }


@pytest.fixture(scope="package")  # analytics here reads rows from these replicas, none other's
def integration_fleet(stack: Stack, user_service: str, provider_fakes: Fakes) -> Iterator[Fleet]:
    """Two integration replicas and analytics, on the session's database and bus."""
    fast = {
        "SYNC_POLL_SECONDS": "0.2",
        "SYNC_LEASE_SECONDS": "3",
        "SYNC_PAGE_DAYS": "10",
        "PROVIDER_RETRIES": "3",
        "PROVIDER_BACKOFF_CAP_SECONDS": "0.3",
        "BREAKER_RESET_SECONDS": "2",
        "EVENTS_VISIBILITY_TIMEOUT_MS": "2000",
    }
    overrides = {**provider_settings(provider_fakes), **fast}
    with (
        running_fleet(stack, "integration", log_name="integration-a", **overrides) as first,
        running_fleet(stack, "integration", log_name="integration-b", **overrides) as second,
        running_services(
            stack, "analytics", log_name="integration-analytics", INTEGRATION_URL=first.processes[0].url
        ) as analytics,
    ):
        yield Fleet(
            [first.processes[0].url, second.processes[0].url],
            analytics["analytics"],
            provider_fakes,
            stack.env("integration", **overrides),
            [first, second],
        )


@pytest.fixture
def api(integration_fleet: Fleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=integration_fleet.url, timeout=30) as client:
        yield client


@pytest.fixture
def owner(user_service: str) -> Account:
    return register_owner(user_service)
