"""Settings of the campaign_management service (see `.env.example`)."""

from pydantic import AnyUrl, Field

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings):
    service_name = "campaign_management"

    database_url: AnyUrl = Field(validation_alias="CAMPAIGN_MANAGEMENT_DATABASE_URL")
