"""Settings of the ai_agents service (see `.env.example`)."""

from pydantic import AnyUrl, Field

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings):
    service_name = "ai_agents"

    database_url: AnyUrl = Field(validation_alias="AI_AGENTS_DATABASE_URL")
