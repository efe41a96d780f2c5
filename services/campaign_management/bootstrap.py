"""The objects of campaign_management, built once at start and handed to routes and handlers."""

from __future__ import annotations

from dataclasses import dataclass

from services.campaign_management.settings import Settings
from shared.infrastructure import BaseContainer, Infrastructure


@dataclass
class Container(BaseContainer):
    settings: Settings


async def build(infra: Infrastructure, settings: Settings) -> Container:
    return Container(infra=infra, settings=settings)
