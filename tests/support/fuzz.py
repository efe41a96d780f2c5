"""Schemathesis against a live service's OpenAPI, the same way for every service.

Why not `schemathesis.pytest.from_fixture(...).parametrize()`: the live URL only exists once the
service fixture runs, which needs that lazy loader, and schemathesis 4.32's lazy loader reads
`request.node._nodeid`, which pytest 9.2 no longer has. So each service's test parametrizes the
operations from its routers at collection time (`operations`), proves that list equals the live
document (`documented`), and drives the Hypothesis strategy schemathesis builds for each operation
with `fuzz`, validating every answer with `case.call_and_validate`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import schemathesis
from fastapi import APIRouter
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Left out on purpose:
# - positive_data_acceptance: schema-valid requests are rightly refused by business rules the schema
#   cannot express (an unknown id 404, an illegal transition 409, a launch not ready 422).
# - use_after_free, ensure_resource_availability: they follow links between recorded calls in the
#   stateful phase; each case here is a single independent call, so they would never fire.
# - ignored_auth, missing_required_header, unsupported_method: they re-send altered requests in the
#   CLI's coverage phase; the anonymous scenario covers the missing-token case directly.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@dataclass(frozen=True)
class Scenario:
    mode: GenerationMode
    signed_in: bool
    max_examples: int


FUZZ_SCALE = int(os.environ.get("FUZZ_SCALE", "1"))
"""Multiplies every scenario's examples: raise it locally to hunt rare failures, CI keeps 1."""

SCENARIOS = {
    "valid": Scenario(GenerationMode.POSITIVE, signed_in=True, max_examples=20),
    "invalid": Scenario(GenerationMode.NEGATIVE, signed_in=True, max_examples=15),
    "anonymous": Scenario(GenerationMode.POSITIVE, signed_in=False, max_examples=5),
}


def operations(routers: Iterable[APIRouter]) -> list[tuple[str, str]]:
    return sorted(
        (method, route.path)
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and route.include_in_schema
        for method in route.methods
    )


def documented(api_schema: Any) -> set[tuple[str, str]]:
    return {
        (operation.method.upper(), operation.path)
        for operation in (result.ok() for result in api_schema.get_all_operations())
    }


def assert_errors_are_problems(base_url: str) -> None:
    """Every documented 4xx is `application/problem+json`, as the handlers answer."""
    document = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    assert list(response["content"]) == ["application/problem+json"], (method, path, status)


def fuzz(api_schema: Any, token: str, method: str, path: str, scenario: str) -> None:
    """No server error and no undocumented answer for generated requests of one operation."""
    plan = SCENARIOS[scenario]
    operation = api_schema[path][method]
    inputs = (
        operation.path_parameters,
        operation.query,
        operation.headers,
        operation.cookies,
        operation.body,
    )
    if plan.mode is GenerationMode.NEGATIVE and not any(part.items for part in inputs):
        pytest.skip("no parameters and no body: there is no invalid request to generate")
    headers = {"Authorization": f"Bearer {token}"} if plan.signed_in else {}

    @given(case=operation.as_strategy(generation_mode=plan.mode))
    @settings(
        max_examples=plan.max_examples * FUZZ_SCALE,
        deadline=None,
        database=None,
        # Each example is a real HTTP round trip: slow by Hypothesis' measure.
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=10)

    run()


class OpenApiConformance:
    """The conformance suite every service runs: subclass it as `TestOpenApi` in the service's
    test_schemathesis.py with `routers`, and a `base_url` fixture naming the live process.

    Every operation of the routers is fuzzed in each scenario; the list is proved equal to the
    live document, and every documented error is a problem document."""

    routers: tuple[APIRouter, ...] = ()
    never_ending: frozenset[tuple[str, str]] = frozenset()
    """Streams (SSE) whose answer has no end to validate: their own tests cover them."""

    @staticmethod
    def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
        if {"method", "path", "scenario"} <= set(metafunc.fixturenames):
            ops = operations(metafunc.cls.routers)
            metafunc.parametrize(("method", "path"), ops, ids=[f"{m} {p}" for m, p in ops])
            metafunc.parametrize("scenario", list(SCENARIOS))

    @pytest.fixture(scope="class")
    @classmethod
    def owner_token(cls, user_service: str) -> str:
        """An owner of a tenant of its own, so fuzzed writes stay where nobody else looks."""
        from tests.support.kit import register_owner

        return register_owner(user_service).access_token

    @pytest.fixture(scope="class")
    @classmethod
    def api_schema(cls, base_url: str) -> Any:
        """The document the running process serves, not one rebuilt in-process."""
        return schemathesis.openapi.from_url(f"{base_url}/openapi.json")

    def test_every_route_is_fuzzed(self, api_schema: Any) -> None:
        assert documented(api_schema) == set(operations(self.routers))

    def test_errors_are_documented_as_problems(self, base_url: str) -> None:
        assert_errors_are_problems(base_url)

    def test_operation_conforms_to_its_openapi(
        self, api_schema: Any, owner_token: str, method: str, path: str, scenario: str
    ) -> None:
        """No server error and no undocumented answer, for valid, invalid and anonymous requests."""
        if (method, path) in self.never_ending:
            pytest.skip("a stream's answer never ends: covered by its own tests")
        fuzz(api_schema, owner_token, method, path, scenario)
