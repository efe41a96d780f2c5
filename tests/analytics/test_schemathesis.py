"""Property-based fuzzing of the live analytics API from the OpenAPI document it serves: valid,
invalid and anonymous requests for every operation; no 5xx and no answer the document does not
promise. The machinery is the kit's (tests/support/fuzz.py)."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis

from services.analytics.api import ROUTERS
from tests.support.fuzz import SCENARIOS, assert_errors_are_problems, documented, fuzz, operations
from tests.support.kit import register_owner

OPERATIONS = operations(ROUTERS)


@pytest.fixture(scope="module")
def owner_token(user_service: str) -> str:
    return register_owner(user_service).access_token


@pytest.fixture(scope="module")
def api_schema(analytics_service: str) -> Any:
    return schemathesis.openapi.from_url(f"{analytics_service}/openapi.json")


def test_every_route_is_fuzzed(api_schema: Any) -> None:
    assert documented(api_schema) == set(OPERATIONS)


def test_errors_are_documented_as_problems(analytics_service: str) -> None:
    assert_errors_are_problems(analytics_service)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_conforms_to_its_openapi(
    api_schema: Any, owner_token: str, method: str, path: str, scenario: str
) -> None:
    fuzz(api_schema, owner_token, method, path, scenario)
