"""campaign_management as real processes (two, for the scheduler), on the session's PostgreSQL and
Redis, with the real user_management for tokens, the Mautic fake, and stand-ins for its peers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from fakes._server import ThreadedFake
from fakes.mautic import make_app as mautic_app
from tests.campaign_management.peers import Peers, running_peers
from tests.support.kit import Account, register_owner
from tests.support.stack import Stack, running_services

MAUTIC_USER, MAUTIC_PASSWORD = "admin", "mautic-secret"


@dataclass
class Fleet:
    urls: list[str]
    peers: Peers
    mautic: ThreadedFake

    @property
    def url(self) -> str:
        return self.urls[0]


@pytest.fixture(scope="session")
def mautic() -> Iterator[ThreadedFake]:
    fake = ThreadedFake(mautic_app(username=MAUTIC_USER, password=MAUTIC_PASSWORD))
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="session")
def campaigns_fleet(stack: Stack, user_service: str, mautic: ThreadedFake) -> Iterator[Fleet]:
    """Two campaign_management processes sharing the database and the event bus."""
    with running_peers() as peers:
        overrides = {
            **{f"{name.upper()}_URL": url for name, url in peers.urls.items()},
            "MAUTIC_URL": mautic.url,
            "MAUTIC_USERNAME": MAUTIC_USER,
            "MAUTIC_PASSWORD": MAUTIC_PASSWORD,
            "SCHEDULER_INTERVAL_SECONDS": "0.2",
            "NOTICE_RETRY_SECONDS": "0.3",
            "BREAKER_RESET_SECONDS": "1",
            "EVENTS_VISIBILITY_TIMEOUT_MS": "2000",
        }
        with (
            running_services(stack, "campaign_management", log_name="campaigns-a", **overrides) as first,
            running_services(stack, "campaign_management", log_name="campaigns-b", **overrides) as second,
        ):
            yield Fleet([first["campaign_management"], second["campaign_management"]], peers, mautic)


@pytest.fixture
def api(campaigns_fleet: Fleet) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=campaigns_fleet.url, timeout=30) as client:
        yield client


@pytest.fixture
def owner(user_service: str) -> Account:
    return register_owner(user_service)
