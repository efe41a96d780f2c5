"""Settings of the api_gateway service (see `.env.example`)."""

from typing import Literal

from pydantic import Field, SecretStr

from shared.auth.permissions import PLANS
from shared.config import ServiceSettings

DEFAULT_PLAN_LIMITS = dict(zip(PLANS, ("1000/3600", "10000/3600", "100000/3600"), strict=True))


class Settings(ServiceSettings, service="api_gateway"):
    upstream_timeout_seconds: float = Field(30.0, gt=0, validation_alias="UPSTREAM_TIMEOUT_SECONDS")
    upstream_connect_timeout_seconds: float = Field(
        3.0, gt=0, validation_alias="UPSTREAM_CONNECT_TIMEOUT_SECONDS"
    )
    upstream_retries: int = Field(2, ge=0, le=5, validation_alias="UPSTREAM_RETRIES")
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024, validation_alias="GATEWAY_MAX_BODY_BYTES")
    webhook_max_body_bytes: int = Field(1024 * 1024, ge=1024, validation_alias="WEBHOOK_MAX_BODY_BYTES")
    plan_rate_limits: dict[str, str] = Field(DEFAULT_PLAN_LIMITS, validation_alias="PLAN_RATE_LIMITS")
    auth_ip_rate_limit: str = Field("20/60", validation_alias="AUTH_IP_RATE_LIMIT")
    webhook_ip_rate_limit: str = Field("300/60", validation_alias="WEBHOOK_IP_RATE_LIMIT")
    route_rate_limits: dict[str, str] = Field({}, validation_alias="ROUTE_RATE_LIMITS")
    rate_limit_fail_open: bool = Field(True, validation_alias="RATE_LIMIT_FAIL_OPEN")
    rate_limit_mode: Literal["exact", "local"] = Field("exact", validation_alias="RATE_LIMIT_MODE")
    rate_limit_sync_ms: int = Field(100, ge=10, le=10_000, validation_alias="RATE_LIMIT_SYNC_MS")
    cors_origins: list[str] = Field([], validation_alias="CORS_ORIGINS")
    operator_token: SecretStr | None = Field(None, validation_alias="GATEWAY_OPERATOR_TOKEN")
