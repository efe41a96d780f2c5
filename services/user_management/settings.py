"""Settings of the user_management service (see `.env.example`)."""

from pydantic import AnyUrl, Field

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings):
    service_name = "user_management"

    database_url: AnyUrl = Field(validation_alias="USER_MANAGEMENT_DATABASE_URL")
