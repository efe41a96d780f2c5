"""Settings from the environment: the shared ones here, each service's own in its `settings.py`.

A service declares `class Settings(DatabaseServiceSettings, service="analytics")` and adds only
its own fields; the names that differ per service (`ANALYTICS_DATABASE_URL`,
`ANALYTICS_CLIENT_SECRET`) are derived from the fleet spec, not redeclared.

A missing or malformed required setting must stop the service at start with one line that names
it (DESIGN §9), so `load_settings` turns pydantic's multi-line report into that line and exits.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar, TypeVar

from pydantic import AnyUrl, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.fleet import BY_NAME, ServiceSpec, spec

SettingsT = TypeVar("SettingsT", bound="ServiceSettings")


def _peer_default(name: str) -> str:
    return f"http://127.0.0.1:{spec(name).port}"


class ServiceSettings(BaseSettings):
    """Settings every service reads. Subclasses name their service and add their own fields."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, populate_by_name=True)

    service_name: ClassVar[str] = ""
    # Per-service names, filled from the fleet spec for each subclass (see __pydantic_init_subclass__).
    _derived_names: ClassVar[dict[str, str]] = {"client_secret": "client_secret_env"}

    redis_url: AnyUrl = Field(validation_alias="REDIS_URL")
    # The event bus may use stricter Redis users than REDIS_URL's (README "Redis users"): one that
    # may only append to this service's stream and events.dead, one that may only read and ack.
    events_publisher_redis_url: AnyUrl | None = Field(None, validation_alias="EVENTS_PUBLISHER_REDIS_URL")
    events_consumer_redis_url: AnyUrl | None = Field(None, validation_alias="EVENTS_CONSUMER_REDIS_URL")
    jwks_url: AnyUrl = Field(validation_alias="JWKS_URL")
    jwt_issuer: str = Field("bizosaas", validation_alias="JWT_ISSUER")
    jwt_audience: str = Field("bizosaas-api", validation_alias="JWT_AUDIENCE")
    token_cache_size: int = Field(10_000, ge=0, le=1_000_000, validation_alias="TOKEN_CACHE_SIZE")
    log_level: str = Field("INFO", validation_alias="LOG_LEVEL")
    environment: str = Field("development", validation_alias="ENVIRONMENT")
    client_secret: SecretStr | None = Field(
        None, description="This service's service-account secret (<SERVICE>_CLIENT_SECRET)."
    )
    trusted_proxies: list[str] = Field(
        [],
        validation_alias="TRUSTED_PROXIES",
        description="Addresses or CIDR ranges whose X-Forwarded-For is believed (none by default).",
    )

    # Circuit breakers, one per host this service calls (peers, providers; the gateway's upstreams).
    breaker_fail_max: int = Field(5, ge=1, validation_alias="BREAKER_FAIL_MAX")
    breaker_reset_seconds: float = Field(30.0, gt=0, validation_alias="BREAKER_RESET_SECONDS")

    ai_agents_url: AnyUrl = Field(_peer_default("ai_agents"), validation_alias="AI_AGENTS_URL")
    user_management_url: AnyUrl = Field(
        _peer_default("user_management"), validation_alias="USER_MANAGEMENT_URL"
    )
    campaign_management_url: AnyUrl = Field(
        _peer_default("campaign_management"), validation_alias="CAMPAIGN_MANAGEMENT_URL"
    )
    analytics_url: AnyUrl = Field(_peer_default("analytics"), validation_alias="ANALYTICS_URL")
    integration_url: AnyUrl = Field(_peer_default("integration"), validation_alias="INTEGRATION_URL")
    notification_url: AnyUrl = Field(_peer_default("notification"), validation_alias="NOTIFICATION_URL")

    # Event bus tuning (DESIGN §4); defaults suit production, tests shorten the timeouts.
    events_visibility_timeout_ms: int = Field(30_000, ge=50, validation_alias="EVENTS_VISIBILITY_TIMEOUT_MS")
    events_max_deliveries: int = Field(5, ge=1, validation_alias="EVENTS_MAX_DELIVERIES")
    events_stream_maxlen: int = Field(100_000, ge=100, validation_alias="EVENTS_STREAM_MAXLEN")
    events_batch_size: int = Field(200, ge=1, le=5000, validation_alias="EVENTS_BATCH_SIZE")

    def __init_subclass__(cls, service: str = "", **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if service:
            if service not in BY_NAME:
                raise ValueError(f"{service!r} is not in the fleet spec (shared/fleet.py)")
            cls.service_name = service

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if not cls.service_name:
            return
        fields = cls.__pydantic_fields__
        for field_name, spec_attribute in cls._derived_names.items():
            env_name = getattr(cls.spec_of(), spec_attribute)
            if fields[field_name].validation_alias != env_name:
                fields[field_name] = FieldInfo.merge_field_infos(
                    fields[field_name], validation_alias=env_name
                )
        cls.model_rebuild(force=True)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @classmethod
    def spec_of(cls) -> ServiceSpec:
        return spec(cls.service_name)

    @property
    def spec(self) -> ServiceSpec:
        return spec(self.service_name)

    def peer_url(self, name: str) -> str:
        return str(getattr(self, f"{name}_url")).rstrip("/")


class DatabaseServiceSettings(ServiceSettings):
    """A service that owns a schema connects as its own runtime role (`<SERVICE>_DATABASE_URL`)."""

    _derived_names: ClassVar[dict[str, str]] = {
        **ServiceSettings._derived_names,
        "database_url": "database_url_env",
    }

    database_url: AnyUrl = Field(description="This service's runtime role (<SERVICE>_DATABASE_URL).")
    db_pool_size: int = Field(10, ge=1, le=100, validation_alias="DB_POOL_SIZE")

    @field_validator("database_url")
    @classmethod
    def _postgres_scheme(cls, value: AnyUrl) -> AnyUrl:
        if not value.scheme.startswith("postgres"):
            raise ValueError("must be a postgresql:// URL")
        return value


def env_name(settings_cls: type[ServiceSettings], field: str) -> str:
    info = settings_cls.model_fields.get(field)
    alias = info.validation_alias if info else None
    return str(alias) if isinstance(alias, str) else field.upper()


def env_names(settings_cls: type[ServiceSettings]) -> dict[str, bool]:
    """Every environment name the settings class reads, with whether it is required."""
    return {
        env_name(settings_cls, name): info.is_required() for name, info in settings_cls.model_fields.items()
    }


def describe_error(settings_cls: type[ServiceSettings], error: ValidationError) -> str:
    """One line naming each bad setting, e.g. `analytics: setting REDIS_URL is missing`."""
    parts = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        name = env_name(settings_cls, field)
        problem = "is missing" if item["type"] == "missing" else f"is invalid ({item['msg']})"
        parts.append(f"setting {name} {problem}")
    return f"{settings_cls.service_name}: " + "; ".join(parts)


def load_settings(settings_cls: type[SettingsT]) -> SettingsT:
    """Read settings or stop the process with one line on stderr and exit status 2."""
    try:
        return settings_cls()
    except ValidationError as error:
        print(describe_error(settings_cls, error), file=sys.stderr, flush=True)
        raise SystemExit(2) from None


__all__ = [
    "DatabaseServiceSettings",
    "ServiceSettings",
    "describe_error",
    "env_name",
    "env_names",
    "load_settings",
]
