"""Settings of the analytics service (see `.env.example`)."""

from pydantic import AnyUrl, Field

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings):
    service_name = "analytics"

    database_url: AnyUrl = Field(validation_alias="ANALYTICS_DATABASE_URL")
