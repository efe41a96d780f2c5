"""Settings errors are one line naming the setting (DESIGN §9)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.analytics.settings import Settings as AnalyticsSettings
from services.api_gateway.settings import Settings as GatewaySettings
from shared.config import describe_error, load_settings

VALID = {
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "JWKS_URL": "http://127.0.0.1:8001/.well-known/jwks.json",
    "ANALYTICS_DATABASE_URL": "postgresql://svc_analytics:pw@127.0.0.1:5432/bizosaas",
}


def error_for(**values: str) -> str:
    with pytest.raises(ValidationError) as caught:
        AnalyticsSettings(**values)
    return describe_error(AnalyticsSettings, caught.value)


def test_missing_setting_is_named_by_its_environment_variable() -> None:
    values = {k: v for k, v in VALID.items() if k != "ANALYTICS_DATABASE_URL"}
    assert error_for(**values) == "analytics: setting ANALYTICS_DATABASE_URL is missing"


def test_malformed_setting_is_named_and_explained() -> None:
    message = error_for(**{**VALID, "ANALYTICS_DATABASE_URL": "mysql://x@y/z"})
    assert message.startswith("analytics: setting ANALYTICS_DATABASE_URL is invalid")
    assert "\n" not in message


def test_every_bad_setting_is_listed_on_one_line() -> None:
    message = error_for(ANALYTICS_DATABASE_URL="postgresql://a@b/c", LOG_LEVEL="chatty")
    assert "REDIS_URL is missing" in message and "JWKS_URL is missing" in message
    assert "LOG_LEVEL is invalid" in message and "\n" not in message


def test_load_settings_exits_with_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("JWKS_URL", VALID["JWKS_URL"])
    with pytest.raises(SystemExit) as exited:
        load_settings(GatewaySettings)
    assert exited.value.code == 2
    assert capsys.readouterr().err.strip() == "api_gateway: setting REDIS_URL is missing"


def test_peer_urls_default_to_the_design_ports() -> None:
    settings = AnalyticsSettings(**VALID)
    assert settings.peer_url("user_management") == "http://127.0.0.1:8001"
    assert settings.peer_url("ai_agents") == "http://127.0.0.1:8000"


def test_env_example_documents_every_setting_of_every_service() -> None:
    import importlib

    from shared.fleet import REPO_ROOT, SERVICES

    documented = {
        line.lstrip("# ").split("=", 1)[0]
        for line in (REPO_ROOT / ".env.example").read_text().splitlines()
        if "=" in line and line.lstrip("# ").split("=", 1)[0].isupper()
    }
    for spec in SERVICES:
        settings_cls = importlib.import_module(f"services.{spec.name}.settings").Settings
        for name, field in settings_cls.model_fields.items():
            env_name = field.validation_alias if isinstance(field.validation_alias, str) else name.upper()
            assert env_name in documented, f"{spec.name}: {env_name} is not in .env.example"
