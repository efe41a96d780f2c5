"""Property-based fuzzing of the live campaign_management API from the OpenAPI document it serves:
valid, invalid and anonymous requests for every operation, over HTTP to the real process; no 5xx
and no answer the document does not promise (the kit's suite, tests/support/fuzz.py)."""

from __future__ import annotations

import pytest

from services.campaign_management.api import ROUTERS
from tests.campaign_management.conftest import Fleet
from tests.support.fuzz import OpenApiConformance


class TestOpenApi(OpenApiConformance):
    routers = ROUTERS

    @pytest.fixture(scope="class")
    @classmethod
    def base_url(cls, campaigns_fleet: Fleet) -> str:
        return campaigns_fleet.url
