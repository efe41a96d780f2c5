"""Settings of the notification service (see `.env.example`)."""

from pydantic import AnyUrl, Field

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings):
    service_name = "notification"

    database_url: AnyUrl = Field(validation_alias="NOTIFICATION_DATABASE_URL")
