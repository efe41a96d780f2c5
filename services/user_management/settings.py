"""Settings of the user_management service (see `.env.example`)."""

from pathlib import Path

from pydantic import AnyUrl, BaseModel, Field, SecretStr

from shared.config import DatabaseServiceSettings


class ServiceAccountConfig(BaseModel):
    client_id: str = Field(min_length=1, max_length=100)
    secret: SecretStr = Field(min_length=16)
    scopes: list[str]


class Settings(DatabaseServiceSettings, service="user_management"):
    jwt_private_key_file: Path = Field(validation_alias="JWT_PRIVATE_KEY_FILE")
    jwt_additional_public_key_files: list[Path] = Field(
        [], validation_alias="JWT_ADDITIONAL_PUBLIC_KEY_FILES"
    )
    access_token_ttl_seconds: int = Field(900, ge=60, le=3600, validation_alias="ACCESS_TOKEN_TTL_SECONDS")
    refresh_token_ttl_days: int = Field(30, ge=1, le=365, validation_alias="REFRESH_TOKEN_TTL_DAYS")
    service_token_ttl_seconds: int = Field(300, ge=30, le=3600, validation_alias="SERVICE_TOKEN_TTL_SECONDS")
    login_lockout_threshold: int = Field(5, ge=1, validation_alias="LOGIN_LOCKOUT_THRESHOLD")
    login_lockout_minutes: int = Field(15, ge=1, validation_alias="LOGIN_LOCKOUT_MINUTES")
    password_min_length: int = Field(10, ge=8, le=64, validation_alias="PASSWORD_MIN_LENGTH")
    argon2_time_cost: int = Field(3, ge=1, validation_alias="ARGON2_TIME_COST")
    argon2_memory_kib: int = Field(65536, ge=8192, validation_alias="ARGON2_MEMORY_KIB")
    argon2_parallelism: int = Field(4, ge=1, validation_alias="ARGON2_PARALLELISM")
    invite_ttl_hours: int = Field(72, ge=1, validation_alias="INVITE_TTL_HOURS")
    public_app_url: AnyUrl = Field("http://127.0.0.1:8080", validation_alias="PUBLIC_APP_URL")
    service_accounts: list[ServiceAccountConfig] = Field([], validation_alias="SERVICE_ACCOUNTS")
