"""Settings of the integration service (see `.env.example`)."""

from pydantic import AnyUrl, Field

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings):
    service_name = "integration"

    database_url: AnyUrl = Field(validation_alias="INTEGRATION_DATABASE_URL")
