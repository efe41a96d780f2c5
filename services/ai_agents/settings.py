"""Settings of the ai_agents service (see `.env.example`)."""

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings, service="ai_agents"):
    """Only this service's own settings; the shared ones come from `shared.config`."""
