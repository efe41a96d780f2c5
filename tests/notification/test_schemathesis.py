"""Property-based fuzzing of the live notification API from the OpenAPI document it serves: valid,
invalid and anonymous requests for every operation; no 5xx and no answer the document does not
promise (the kit's suite, tests/support/fuzz.py)."""

from __future__ import annotations

import pytest

from services.notification.api import ROUTERS
from tests.notification.conftest import Service
from tests.support.fuzz import OpenApiConformance


class TestOpenApi(OpenApiConformance):
    routers = ROUTERS
    never_ending = frozenset({("GET", "/api/v1/notifications/stream")})

    @pytest.fixture(scope="class")
    @classmethod
    def base_url(cls, notification: Service) -> str:
        return notification.url
