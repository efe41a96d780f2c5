"""Property-based fuzzing of the live user_management API from the OpenAPI document it serves.

Every operation gets schema-generated requests, valid and invalid, sent over HTTP to the real
uvicorn process (as a freshly registered owner, and anonymously); no answer may be a 5xx or
contradict what the document promises (status codes, content types, headers, response bodies).

The machinery is the kit's (tests/support/fuzz.py), shared by every service.
"""

from __future__ import annotations

import json

import httpx
import pytest

from services.user_management.api import ROUTERS
from tests.support.fuzz import OpenApiConformance
from tests.support.kit import register_owner


class TestOpenApi(OpenApiConformance):
    routers = ROUTERS

    @pytest.fixture(scope="class")
    @classmethod
    def base_url(cls, user_service: str) -> str:
        return user_service


# --- inputs fuzzing found that used to answer 500 ---------------------------------------------


@pytest.fixture(scope="module")
def owner_token(user_service: str) -> str:
    return register_owner(user_service).access_token


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "raw_settings",
    [
        '{"a": "x\\u0000y"}',
        '{"a\\u0000": 1}',
        '{"a": "\\ud800"}',
        '{"a": NaN}',
        '{"a": Infinity}',
        '{"a": 1e400}',
        f'{{"a": {_nested(300)}}}',
    ],
    ids=["nul-value", "nul-key", "lone-surrogate", "nan", "infinity", "overflow", "deep-nesting"],
)
def test_unstorable_tenant_settings_are_refused(
    user_service: str, owner_token: str, raw_settings: str
) -> None:
    """jsonb refuses NUL, unpaired surrogates and NaN/Infinity; very deep nesting was stored and then
    broke every later read of the tenant. All must be a 422 up front, leaving the tenant readable."""
    headers = {"Authorization": f"Bearer {owner_token}", "Content-Type": "application/json"}
    with httpx.Client(base_url=user_service, headers=headers, timeout=10) as client:
        response = client.patch("/api/v1/tenants/current", content=f'{{"settings": {raw_settings}}}')
        assert response.status_code == 422, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["loc"][:2] == ["body", "settings"]
        assert client.get("/api/v1/tenants/current").status_code == 200


def test_moderately_nested_settings_are_still_accepted(user_service: str, owner_token: str) -> None:
    """The depth limit is generous for real settings (and the round trip is exact)."""
    settings_value = {"theme": {"colors": {"primary": "#123456"}}, "list": json.loads(_nested(20))}
    response = httpx.patch(
        f"{user_service}/api/v1/tenants/current",
        json={"settings": settings_value},
        headers={"Authorization": f"Bearer {owner_token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["settings"] == settings_value


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/api/v1/auth/token", {"username": "a\x00b@acme.io", "password": "whatever-it-is"}),
        ("/api/v1/auth/token", {"username": "someone@acme.io", "password": "nul\x00inside"}),
        (
            "/api/v1/auth/service-token",
            {"grant_type": "client_credentials", "client_id": "a\x00b", "client_secret": "whatever-it-is"},
        ),
    ],
    ids=["token-username", "token-password", "service-token-client-id"],
)
def test_form_fields_with_control_characters_are_refused(
    user_service: str, path: str, form: dict[str, str]
) -> None:
    """A NUL in a form field reached PostgreSQL (which refuses it) and answered 500; the JSON
    routes already refused control characters, now the form routes do too."""
    response = httpx.post(f"{user_service}{path}", data=form, timeout=10)
    assert response.status_code == 422, response.text
    assert "control characters" in response.json()["detail"]
