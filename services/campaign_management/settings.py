"""Settings of the campaign_management service (see `.env.example`)."""

from pydantic import AnyUrl, Field, SecretStr

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings, service="campaign_management"):
    # The Mautic used when a tenant has no Mautic connection of its own (the dev stack: the fake).
    mautic_url: AnyUrl | None = Field(None, validation_alias="MAUTIC_URL")
    mautic_username: str | None = Field(None, validation_alias="MAUTIC_USERNAME")
    mautic_password: SecretStr | None = Field(None, validation_alias="MAUTIC_PASSWORD")
    mautic_client_id: str | None = Field(None, validation_alias="MAUTIC_CLIENT_ID")
    mautic_client_secret: SecretStr | None = Field(None, validation_alias="MAUTIC_CLIENT_SECRET")
    scheduler_interval_seconds: float = Field(
        5.0, gt=0, le=3600, validation_alias="SCHEDULER_INTERVAL_SECONDS"
    )
    notice_retry_seconds: float = Field(10.0, gt=0, le=3600, validation_alias="NOTICE_RETRY_SECONDS")
