"""Property-based fuzzing of the live integration API from the OpenAPI document it serves: valid,
invalid and anonymous requests for every operation; no 5xx and no answer the document does not
promise (the kit's suite, tests/support/fuzz.py)."""

from __future__ import annotations

import pytest

from services.integration.api import ROUTERS
from tests.integration.conftest import Fleet
from tests.support.fuzz import OpenApiConformance


class TestOpenApi(OpenApiConformance):
    routers = ROUTERS

    @pytest.fixture(scope="class")
    @classmethod
    def base_url(cls, integration_fleet: Fleet) -> str:
        return integration_fleet.url
