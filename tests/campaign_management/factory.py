"""Campaigns as the tests need them: a valid body, a created campaign, a launchable one (its ad
channels connected, as integration would announce), and its launch."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import redis

from tests.support.bus import publish
from tests.support.kit import Account, eventually

START = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)


def campaign_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"Spring sale {uuid.uuid4().hex[:6]}",
        "objective": "sales",
        "currency": "EUR",
        "budget_type": "lifetime",
        "channels": [
            {"channel": "google_ads", "budget_minor": 60_000},
            {"channel": "email", "budget_minor": 40_000},
        ],
        "start_at": START.isoformat(),
        "end_at": (START + timedelta(days=30)).isoformat(),
        "targeting": {
            "locations": ["DE", "AT"],
            "languages": ["de"],
            "age_min": 25,
            "age_max": 54,
            "keywords": ["shoes"],
        },
        "utm": {"source": "bizosaas", "medium": "cpc", "campaign": "spring"},
        "tags": ["spring", "shoes"],
    }
    body.update(overrides)
    return body


def create(api: httpx.Client, account: Account, **overrides: Any) -> dict[str, Any]:
    response = api.post("/api/v1/campaigns", json=campaign_body(**overrides), headers=account.auth)
    assert response.status_code == 201, response.text
    return response.json()


def connect(bus: redis.Redis, account: Account, *providers: str) -> None:
    """Announce connections as integration does; the service learns of them from the bus."""
    for provider in providers:
        publish(
            bus,
            "integration.connected",
            {"connection_id": str(uuid.uuid4()), "provider": provider, "account_name": provider},
            account.tenant_id,
        )


def launch(api: httpx.Client, account: Account, campaign_id: str) -> dict[str, Any]:
    """Launch once the connections announced before have arrived (the bus is asynchronous)."""

    def launched() -> dict[str, Any] | None:
        answer = api.post(f"/api/v1/campaigns/{campaign_id}/launch", headers=account.auth)
        if answer.status_code == 422 and "no active connection" in answer.text:
            return None
        assert answer.status_code == 200, answer.text
        return answer.json()

    return eventually(launched)


def running_campaign(
    api: httpx.Client, bus: redis.Redis, account: Account, **overrides: Any
) -> dict[str, Any]:
    """A campaign active now on google_ads and email."""
    connect(bus, account, "google_ads")
    now = datetime.now(UTC)
    campaign = create(
        api,
        account,
        start_at=(now - timedelta(minutes=1)).isoformat(),
        end_at=(now + timedelta(days=30)).isoformat(),
        **overrides,
    )
    return launch(api, account, campaign["id"])
