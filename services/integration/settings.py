"""Settings of the integration service (see `.env.example`)."""

from shared.config import DatabaseServiceSettings


class Settings(DatabaseServiceSettings, service="integration"):
    """Only this service's own settings; the shared ones come from `shared.config`."""
